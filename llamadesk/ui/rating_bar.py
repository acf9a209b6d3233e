"""The row of rating controls under a chat reply: thumbs up and down, one to five stars, a note.

One bar serves the whole transcript: the chat view moves it under the reply the pointer is over
(the last reply otherwise), so a long chat does not carry hundreds of widgets and the transcript
stays plain text. What each reply was given is also written, muted, on the line the bar covers.

Signals: rated(message id, thumb or None, stars or None) — a thumb or a star was pressed, with
the value to store (0 takes that part back, None leaves it); note_requested(message id)."""

from functools import cache

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFrame, QHBoxLayout, QToolButton, QWidget

from llamadesk.core.history import Rating

STAR, NO_STAR = "★", "☆"


@cache
def thumbs() -> tuple[str, str]:
    """Thumbs up and down as emoji where a font can draw them (Qt falls back to an installed emoji
    font), else as triangles every common font has: a box in their place would mean nothing."""
    if any("emoji" in family.lower() for family in QFontDatabase.families()):
        return "👍", "👎"
    return "▲", "▼"


def rating_summary(rating: Rating | None, note_label: str) -> str:
    """A rating in a few characters: "👍 · ★★★★☆ · note"."""
    if rating is None:
        return ""
    parts = []
    if rating.thumb:
        parts.append(thumbs()[0] if rating.thumb > 0 else thumbs()[1])
    if rating.stars:
        parts.append(STAR * rating.stars + NO_STAR * (5 - rating.stars))
    if rating.note:
        parts.append(note_label)
    return " · ".join(parts)


class RatingBar(QFrame):
    rated = Signal(int, object, object)
    note_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ratingBar")
        self.setAccessibleName(self.tr("Rate this reply"))
        self.setAutoFillBackground(True)  # it lies over the transcript's summary of the same rating
        self.message_id: int | None = None
        self.rating: Rating | None = None

        up, down = thumbs()
        self.up_button = self._button(up, self.tr("Good reply"))
        self.up_button.setCheckable(True)
        self.up_button.clicked.connect(lambda: self._on_thumb_clicked(1))
        self.down_button = self._button(down, self.tr("Bad reply"))
        self.down_button.setCheckable(True)
        self.down_button.clicked.connect(lambda: self._on_thumb_clicked(-1))
        self.star_buttons = []
        for stars in range(1, 6):
            button = self._button(NO_STAR, self.tr("{0} of 5 stars").format(stars))
            button.clicked.connect(lambda _checked=False, stars=stars: self._on_star_clicked(stars))
            self.star_buttons.append(button)
        self.note_button = self._button(self.tr("Note…"), self.tr("Note on this reply"))
        self.note_button.clicked.connect(self._on_note_clicked)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.up_button)
        layout.addWidget(self.down_button)
        layout.addSpacing(8)
        for button in self.star_buttons:
            layout.addWidget(button)
        layout.addSpacing(8)
        layout.addWidget(self.note_button)
        self.adjustSize()

    def _button(self, text: str, name: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAccessibleName(name)
        button.setToolTip(name)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        return button

    def show_rating(self, message_id: int, rating: Rating | None) -> None:
        """Show the controls for reply `message_id` as `rating` left them."""
        self.message_id, self.rating = message_id, rating
        thumb = rating.thumb if rating else None
        stars = (rating.stars if rating else None) or 0
        self.up_button.setChecked(thumb == 1)
        self.down_button.setChecked(thumb == -1)
        for number, button in enumerate(self.star_buttons, start=1):
            button.setText(STAR if number <= stars else NO_STAR)
            given = self.tr("{0} of 5 stars").format(number)
            button.setAccessibleDescription(self.tr("chosen") if number == stars else "")
            button.setToolTip(given + (self.tr(" (press again to take back)") if number == stars else ""))
        note = rating.note if rating else None
        self.note_button.setText(self.tr("Note ✓") if note else self.tr("Note…"))
        self.note_button.setToolTip(note or self.tr("Note on this reply"))
        self.note_button.setAccessibleDescription(note or "")
        self.adjustSize()

    def _on_thumb_clicked(self, thumb: int) -> None:
        if self.message_id is None:
            return
        current = self.rating.thumb if self.rating else None
        self.rated.emit(self.message_id, 0 if current == thumb else thumb, None)

    def _on_star_clicked(self, stars: int) -> None:
        if self.message_id is None:
            return
        current = self.rating.stars if self.rating else None
        self.rated.emit(self.message_id, None, 0 if current == stars else stars)

    def _on_note_clicked(self) -> None:
        if self.message_id is not None:
            self.note_requested.emit(self.message_id)
