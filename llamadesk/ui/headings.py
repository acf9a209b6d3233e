"""Headings, set in one place and by language.

Bold Chinese glyphs are far denser than Latin bold at the same size: the panels' bold headings read
much heavier in Chinese than in English. So a heading's weight follows the interface language:
Latin scripts get a semi-bold weight; Chinese, Japanese and Korean a medium weight one size step
larger. Where the font has no medium cut (Noto Sans CJK as Debian installs it, Microsoft YaHei),
Qt takes its regular one and the larger size carries the heading, as Chinese desktop software
does; PingFang (macOS) and Source Han/Noto with all weights draw a true medium."""

import html

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QWidget

from llamadesk.core import i18n

_CJK = ("zh", "ja", "ko")
# CSS sizes for rich text: a panel's headings, an entry's name in a details pane, a page's title.
SECTION, ENTRY, PAGE = "medium", "large", "x-large"
_LARGER = {"medium": "large", "large": "x-large", "x-large": "xx-large"}


def _cjk() -> bool:
    return i18n.language().split("_")[0] in _CJK


def weight() -> QFont.Weight:
    return QFont.Weight.Medium if _cjk() else QFont.Weight.DemiBold


def heading_html(text: str, size: str = SECTION) -> str:
    """`text` (plain, escaped here) as a heading in rich text, in the language's weight."""
    css_size = _LARGER[size] if _cjk() else size
    return f"<span style='font-size: {css_size}; font-weight: {weight().value}'>{html.escape(text)}</span>"


def label_html(text: str) -> str:
    """`text` (plain, escaped here) as the name before a value, in the language's weight."""
    return f"<span style='font-weight: {weight().value}'>{html.escape(text)}</span>"


def heading_font(font: QFont, scale: float = 1.0) -> QFont:
    """`font` made a heading `scale` times its size (one step more in CJK), in the language's weight."""
    heading = QFont(font)
    heading.setPointSizeF(font.pointSizeF() * scale * (1.15 if _cjk() else 1.0))
    heading.setWeight(weight())
    return heading


class SectionTitle(QLabel):
    """A panel's heading ("Library", "Runs"), with an optional plain hint after it ("select one to
    see its curves")."""

    def __init__(self, title: str, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_title(title, hint)

    def set_title(self, title: str, hint: str = "") -> None:
        # A Chinese hint opens with a full-width bracket, which carries its own space.
        separator = "" if hint.startswith("（") else " "
        self.setText(heading_html(title) + (separator + html.escape(hint) if hint else ""))


def facts_table(rows: list[tuple[str, str]]) -> str:
    """A details pane's facts as a two-column table, each name in the language's heading weight.
    Both columns are rich text as given: a caller escapes what it did not write itself."""
    body = "".join(
        f"<tr><td style='font-weight: {weight().value}'>{name}&nbsp;&nbsp;</td><td>{value}</td></tr>"
        for name, value in rows
    )
    return f"<table>{body}</table>"
