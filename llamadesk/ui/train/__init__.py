"""The Train panel's parts, one widget to a module; `llamadesk.ui.train_view.TrainView` composes them.

- `drop_zone`: where documents come in (drops, Add files…, Add folder…).
- `corpus_preview`: what a drop or a stored corpus holds, with decoded samples.
- `data_panel`: the data column: drops waiting to become a corpus, and the stored corpora.
- `job_form`: the new job's settings, its step plan and memory check, Start/Cancel/Resume.
- `pipeline_guide`: the guided Chinese → merge → private SFT flow over the form.
- `run_monitor`: the followed or chosen run: progress, loss chart, log, and whether it learnt.
- `learn_report`: a finished run's before/after answer losses and sample answers.
- `run_list`: past runs.
- `background`: the work these widgets hand to threads (no widgets).
- `formatting`: numbers and names as the panel shows them."""
