"""The Evaluate panel's dialogs, one widget to a module: `run_details` (one cell's runs, item by
item, each readable as a question with its choices, the model's pick and the right answer) and
`replies_dialog` (a generation column's replies, every variant's side by side, question by question:
the four-way comparison of base, base + documents, adapter and adapter + documents). `item_html`
turns one stored item into the text both show. The panel itself is `llamadesk.ui.evaluate_view`."""
