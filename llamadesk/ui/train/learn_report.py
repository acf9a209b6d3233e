"""Whether a finished run learnt what it was given, from the runner's learn report (the run's state
keeps it, so past runs show it too): the loss on training and validation examples with the adapter
off (the base, where training began) and on, and sample answers from both beside the data's own.

The report's keys are the runner's (`core.training.runner._Learning`): train_loss and
validation_loss ({"before", "after"}, the latter null without validation data), examples
({"train", "validation"}), samples ([{"prompt", "reference", "base", "adapter"}])."""

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from llamadesk.ui.headings import heading_html, label_html

LEARNT = 0.5  # the loss on its own training examples at most halved: they were learnt
SOME = 0.9  # fell by a tenth or more: something was learnt, not enough


class LearnReport(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("learnReport")
        self.setAccessibleName(self.tr("What the run learnt"))
        self.setOpenLinks(False)
        self.report: dict | None = None
        self.hide()

    def set_report(self, report: dict | None, kind: str | None) -> None:
        """Show a run's learn report; None (a run not finished, or from before reports) hides it."""
        self.report = report
        if not report:
            self.clear()
            self.hide()
            return
        verdict = heading_html(self.verdict(report, kind))
        self.show()  # before the text: shown afterwards, the resize would leave it scrolled down
        self.setHtml(f"<p>{verdict}</p>" + self._table(report) + self._samples(report, kind))

    def verdict(self, report: dict, kind: str | None) -> str:
        """One sentence on the outcome, from the training examples' loss before and after ("" when
        the report has no such figures)."""
        train = report.get("train_loss") or {}
        before, after = train.get("before"), train.get("after")
        if not before or after is None:
            return ""
        ratio = after / before
        if ratio <= LEARNT:
            text = self.tr("It learnt its training examples: their loss fell from {0:.2f} to {1:.2f}.")
        elif ratio <= SOME:
            text = self.tr(
                "It learnt a little: the loss fell from {0:.2f} to {1:.2f}; more epochs or a higher "
                "learning rate would teach it more."
            )
        else:
            text = self.tr(
                "It hardly learnt: the loss on its own training examples only went from {0:.2f} to "
                "{1:.2f}; try more epochs or a higher learning rate."
            )
        return text.format(before, after)

    def _table(self, report: dict) -> str:
        counts = report.get("examples") or {}
        header = "".join(
            f"<th align='left'>{html.escape(h)}&nbsp;&nbsp;</th>"
            for h in (
                self.tr("Loss on"),
                self.tr("Examples"),
                self.tr("Base"),
                self.tr("With the adapter"),
                self.tr("Change"),
            )
        )
        rows = []
        for key, label in (
            ("train_loss", self.tr("training examples")),
            ("validation_loss", self.tr("validation examples")),
        ):
            losses = report.get(key)
            if not losses or losses.get("before") is None or losses.get("after") is None:
                continue
            before, after = losses["before"], losses["after"]
            change = f"{(after - before) / before:+.0%}" if before else "—"
            count = counts.get("train" if key == "train_loss" else "validation", "")
            cells = (label, f"{count}", f"{before:.3f}", f"{after:.3f}", change)
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}&nbsp;&nbsp;</td>" for c in cells) + "</tr>")
        if not report.get("validation_loss"):
            none = html.escape(self.tr("No validation examples to compare."))
            rows.append(f"<tr><td colspan='5'><i>{none}</i></td></tr>")
        return f"<table cellspacing='0' cellpadding='2'><tr>{header}</tr>{''.join(rows)}</table>"

    def _samples(self, report: dict, kind: str | None) -> str:
        samples = report.get("samples") or []
        if not samples:
            return ""
        prompt_word = self.tr("Text") if kind == "pt" else self.tr("Question")
        reference_word = self.tr("Continues in the data") if kind == "pt" else self.tr("Answer in the data")
        labelled = self.tr("{0}:")  # the colon as the language writes it (Chinese "：")
        parts = []
        for number, sample in enumerate(samples, 1):
            lines = (
                (prompt_word, sample.get("prompt", "")),
                (reference_word, sample.get("reference", "")),
                (self.tr("Base"), sample.get("base", "")),
                (self.tr("With the adapter"), sample.get("adapter", "")),
            )
            body = "".join(
                "<p style='white-space: pre-wrap; margin-left: 12px'>"
                f"{label_html(labelled.format(word))} {html.escape(text)}</p>"
                for word, text in lines
            )
            title = self.tr("Sample {0}").format(number)  # tr() outside the f-string, where lupdate sees it
            parts.append(f"<p>{heading_html(title)}</p>{body}")
        return "".join(parts)
