"""What a drop or a stored corpus holds, before anyone trains on it: files read and skipped (and
why), size, languages, encodings, the split, and the starts of the first passages as decoded, so
a user sees that a GBK file reads as Chinese rather than mojibake."""

import html
from pathlib import Path

from PySide6.QtWidgets import QTextBrowser, QWidget

from llamadesk.core.corpus.scan import CorpusSummary, Sample
from llamadesk.ui.headings import ENTRY, facts_table, heading_html

# Codec names as Python reports them, the way people know them (GB18030 is the superset of GBK).
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-16": "UTF-16",
    "utf-32": "UTF-32",
    "gb18030": "GB18030 (GBK)",
    "cp1252": "Windows-1252",
}


def encoding_name(encoding: str | None) -> str:
    return _ENCODING_NAMES.get(encoding or "", encoding or "")


class CorpusPreview(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Data preview"))
        self.setOpenLinks(False)
        self._shown = ""  # the last summary shown, kept under a refusal's notice
        self.show_hint()

    def show_hint(self) -> None:
        """What the area is for. A text, not a placeholder: a placeholder is one line, cut off in a
        narrow column."""
        self._shown = ""
        hint = self.tr("Drop documents to see what they hold before adding them.")
        colour = self.palette().placeholderText().color().name()
        self.setHtml(f"<p style='color: {colour}'>{html.escape(hint)}</p>")

    def show_reading(self, count: int) -> None:
        self.setHtml(self.tr("<p>Reading {0} item(s)…</p>").format(count))

    def show_summary(self, title: str, summary: CorpusSummary, samples: list[Sample]) -> None:
        heading = f"<p>{heading_html(title, ENTRY)}</p>"
        self._shown = heading + self.summary_html(summary) + self.samples_html(samples)
        self.setHtml(self._shown)

    def show_message(self, text: str) -> None:
        self._shown = ""
        self.setPlainText(text)

    def show_refusal(self, names: list[str], reason: str) -> None:
        """Files that were not taken, with why, above what is still waiting to be added (if any)."""
        notice = self.tr("Not added: {0}").format(", ".join(names))
        self.setHtml(
            f"<p><b>⚠ {html.escape(notice)}</b><br>{html.escape(reason)}</p>"
            + (f"<hr>{self._shown}" if self._shown else "")
        )

    def summary_html(self, summary: CorpusSummary) -> str:
        """Files, skipped ones and why, size, language, kind."""
        kinds = {
            "text": self.tr("plain text"),
            "instructions": self.tr("instructions"),
            "mixed": self.tr("mixed"),
        }
        encodings = (
            ", ".join(f"{encoding_name(name)} ×{count}" for name, count in summary.encodings.items()) or "—"
        )
        tokens = f"{summary.tokens:,}" if summary.tokens is not None else self.tr("not counted")
        rows = [
            (self.tr("Kind"), kinds[summary.kind]),
            (self.tr("Files read"), f"{len(summary.files_read):,}"),
            (self.tr("Characters"), f"{summary.characters:,}"),
            (self.tr("Tokens"), tokens),
            (self.tr("Languages"), summary.language.describe()),
            (self.tr("Encodings"), encodings),
            (
                self.tr("Passages (train / validation)"),
                f"{summary.passages['train']:,} / {summary.passages['validation']:,}",
            ),
            (
                self.tr("Conversations (train / validation)"),
                f"{summary.conversations['train']:,} / {summary.conversations['validation']:,}",
            ),
            (self.tr("Duplicates dropped"), f"{summary.duplicates:,}"),
        ]
        text = facts_table(rows)
        if summary.skipped:
            items = "".join(
                f"<li>{html.escape(Path(s.path).name)}: {html.escape(s.reason)}</li>"
                for s in summary.skipped[:20]
            )
            text += (
                self.tr("<p><b>Skipped {0} file(s):</b></p>").format(len(summary.skipped))
                + f"<ul>{items}</ul>"
            )
        if summary.warning_count:
            text += self.tr("<p>{0} record(s) left out, e.g. {1}</p>").format(
                summary.warning_count, html.escape(summary.warnings[0]) if summary.warnings else ""
            )
        return text

    def samples_html(self, samples: list[Sample]) -> str:
        """Each sample under its file's name and encoding, its line breaks kept."""
        if not samples:
            return ""
        title = self.tr("How the text reads")
        parts = [f"<p>{heading_html(title)}</p>"]
        for sample in samples:
            where = Path(sample.source).name
            label = f"{where} · {encoding_name(sample.encoding)}" if sample.encoding else where
            body = html.escape(sample.text) + ("…" if sample.cut else "")
            parts.append(
                f"<p><b>{html.escape(label)}</b></p>"
                f"<p style='white-space: pre-wrap; margin-left: 12px'>{body}</p>"
            )
        return "".join(parts)
