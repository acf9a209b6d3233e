"""The transcript: a conversation's messages as rich text, the reply being written as it streams, and
the rating bar lying under one reply at a time.

Each message has a header line naming who speaks, with its actions as links (copy, edit, rate,
regenerate) and, for a reply that was regenerated, "‹ 1/2 ›" to flip between its versions. Under
every reply lies its rating row: the rating given, in the glyphs of the rating bar, which moves
over the row of the reply the pointer is on (the last reply otherwise). Every reply keeps its row,
so nothing jumps or leaves a gap as the bar moves. A code block's Copy link copies its code.

Signals: action_requested(action, message id) — a link of a message was followed: "copy", "edit",
"regenerate", "previous" or "next" (version); rated(message id, thumb, stars) and
note_requested(message id), from the rating bar."""

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QGuiApplication,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

from llamadesk.core.history import Message, Rating
from llamadesk.ui import headings
from llamadesk.ui.chat.passage_dialog import PassageDialog
from llamadesk.ui.markdown import COPY_CODE, MarkdownStream, code_at, insert_markdown
from llamadesk.ui.rating_bar import NO_STAR, STAR, RatingBar, thumbs


@dataclass(frozen=True)
class ReplySpan:
    """Where a saved reply lies in the document: from its header to the end of its rating row."""

    message_id: int
    start: int
    rating_line: int  # position of the row the bar lies on
    end: int


@dataclass(frozen=True)
class Versions:
    """Which of a reply's versions is shown (1-based) of how many."""

    index: int
    count: int


class Transcript(QTextBrowser):
    action_requested = Signal(str, int)
    rated = Signal(int, object, object)
    note_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Transcript"))
        self.setOpenLinks(False)
        self.anchorClicked.connect(self.follow_link)
        self.rating_bar = RatingBar(self.viewport())
        self.rating_bar.rated.connect(self.rated)
        self.rating_bar.note_requested.connect(self.note_requested)
        self.rating_bar.hide()
        self.viewport().setMouseTracking(True)
        self.viewport().installEventFilter(self)
        self.verticalScrollBar().valueChanged.connect(self._place_rating_bar)
        self.horizontalScrollBar().valueChanged.connect(self._place_rating_bar)
        self.ratings: dict[int, Rating] = {}
        self._spans: list[ReplySpan] = []
        self._target: int | None = None  # the reply the rating bar is under (None: the last)
        self._stream: MarkdownStream | None = None

    def _muted(self) -> QTextCharFormat:
        muted = QTextCharFormat()
        muted.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        return muted

    def _code_background(self):
        return self.palette().color(QPalette.ColorRole.AlternateBase)

    # -- painting -------------------------------------------------------------------------------

    def show_messages(
        self,
        messages: list[Message],
        ratings: dict[int, Rating],
        versions: dict[int, Versions],
        writer: str | None,
        scroll_to_end: bool,
    ) -> None:
        """Paint `messages`; `writer`, where a reply is being written here, names who writes it
        (its text follows through `update_stream`). An empty chat shows a hint."""
        bar = self.verticalScrollBar()
        position = bar.value()
        document = self.document()
        document.clear()
        cursor = QTextCursor(document)
        self.ratings = ratings
        self._spans = []
        self.sources = {m.id: m.sources for m in messages if m.sources}
        last_reply = next((m.id for m in reversed(messages) if m.role == "assistant"), None)
        for index, message in enumerate(messages):
            start = cursor.position()
            self._insert_header(
                cursor,
                message,
                versions.get(message.id),
                first=index == 0,
                last_reply=message.id == last_reply,
            )
            if message.role == "assistant":
                insert_markdown(cursor, message.content, self._code_background())
                if message.sources:
                    self._insert_sources(cursor, message.id, message.sources)
                self._insert_rating_row(cursor, message.id, start)
            else:
                cursor.insertText(message.content, QTextCharFormat())
        self._stream = None
        if writer is not None:
            self._insert_writer(cursor, writer, first=not messages)
            self._stream = MarkdownStream(document, cursor.position(), self._code_background())
        if not messages and writer is None:
            cursor.insertText(self.tr("Ask anything. Everything stays on this computer."), self._muted())
        bar.setValue(bar.maximum() if scroll_to_end else position)
        self._place_rating_bar()

    def update_stream(self, text: str) -> None:
        """Repaint the reply being written as `text`; follow the end only if the reader was at the
        end: someone scrolled up to read stays where they are."""
        if self._stream is None:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        self._stream.update(text)
        if follow:
            bar.setValue(bar.maximum())

    def _new_line(self, cursor: QTextCursor, first: bool) -> None:
        block = QTextBlockFormat()
        block.setTopMargin(0 if first else 14)
        if first:
            cursor.setBlockFormat(block)
        else:
            cursor.insertBlock(block, QTextCharFormat())

    def _insert_writer(self, cursor: QTextCursor, writer: str, first: bool) -> None:
        self._new_line(cursor, first)
        speaker = QTextCharFormat()
        speaker.setFontWeight(headings.weight())
        cursor.insertText(writer, speaker)
        cursor.insertText("  " + self.tr("writing…"), QTextCharFormat())
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())

    def _link(self, cursor: QTextCursor, label: str, href: str) -> None:
        link = QTextCharFormat()
        link.setAnchor(True)
        link.setAnchorHref(href)
        link.setForeground(self.palette().color(QPalette.ColorRole.Link))
        cursor.insertText(label, link)

    def _insert_header(
        self, cursor: QTextCursor, message: Message, versions: Versions | None, first: bool, last_reply: bool
    ) -> None:
        """A line naming who speaks, with its actions as links (copy, edit, regenerate)."""
        self._new_line(cursor, first)
        speaker = QTextCharFormat()
        speaker.setFontWeight(headings.weight())
        if message.role == "assistant":
            adapter = f" + {message.adapter_id}" if message.adapter_id else ""
            cursor.insertText((message.model_id or "") + adapter, speaker)
        else:
            cursor.insertText(self.tr("You"), speaker)
        plain = QTextCharFormat()
        if versions is not None and versions.count > 1:
            cursor.insertText("   ", plain)
            self._link(cursor, "‹", f"previous:{message.id}")
            cursor.insertText(f" {versions.index}/{versions.count} ", plain)
            self._link(cursor, "›", f"next:{message.id}")
        actions = [("copy", self.tr("Copy"))]
        if message.role == "user":
            actions.append(("edit", self.tr("Edit")))
        else:
            actions.append(("rate", self.tr("Rate")))
        if last_reply:
            actions.append(("regenerate", self.tr("Regenerate")))
        for action, label in actions:
            cursor.insertText("   ", plain)
            self._link(cursor, label, f"{action}:{message.id}")
        if message.role == "assistant" and message.tokens_per_s:
            stopped = self.tr(" · stopped") if message.finish_reason == "stopped" else ""
            cursor.insertText(
                "   " + self.tr("{0} tokens/s").format(f"{message.tokens_per_s:.1f}") + stopped, self._muted()
            )
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())

    def _insert_sources(self, cursor: QTextCursor, message_id: int, sources: list[dict]) -> None:
        """The passages a grounded reply was given, one link each, opening the passage."""
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        cursor.insertText(self.tr("Sources:"), self._muted())
        for source in sources:
            cursor.insertText("  ", self._muted())
            name = Path(source["source"]).name
            self._link(cursor, f"[{source['number']}] {name}", f"source:{message_id}:{source['number']}")

    def open_source(self, message_id: int, number: int) -> PassageDialog:
        dialog = PassageDialog(self.sources[message_id][number - 1], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _insert_rating_row(self, cursor: QTextCursor, message_id: int, start: int) -> None:
        """The row under a reply: its rating in the rating bar's glyphs (the bar lies over it when
        it is under this reply), a link that brings the bar here."""
        line = QTextBlockFormat()
        line.setTopMargin(2)
        line.setLineHeight(
            self.rating_bar.sizeHint().height(), QTextBlockFormat.LineHeightTypes.FixedHeight.value
        )
        cursor.insertBlock(line, QTextCharFormat())
        rating_line = cursor.position()
        rating = self.ratings.get(message_id)
        up, down = thumbs()
        stars = (rating.stars if rating else None) or 0
        given = self._muted()
        given.setForeground(self.palette().color(QPalette.ColorRole.Text))
        given.setAnchor(True)
        given.setAnchorHref(f"rate:{message_id}")
        muted = self._muted()
        muted.setAnchor(True)
        muted.setAnchorHref(f"rate:{message_id}")
        thumb = rating.thumb if rating else None
        cursor.insertText(up, given if thumb == 1 else muted)
        cursor.insertText(" ", muted)
        cursor.insertText(down, given if thumb == -1 else muted)
        cursor.insertText("   ", muted)
        cursor.insertText(STAR * stars, given)
        cursor.insertText(NO_STAR * (5 - stars), muted)
        if rating is not None and rating.note:
            cursor.insertText("   " + self.tr("note"), given)
        self._spans.append(ReplySpan(message_id, start, rating_line, cursor.position()))

    # -- links ----------------------------------------------------------------------------------

    def follow_link(self, url: QUrl) -> None:
        action, _, target = url.toString().partition(":")
        if action == COPY_CODE:
            QGuiApplication.clipboard().setText(code_at(self.document(), int(target)))
        elif action == "rate":
            self.show_rating_bar(int(target), focus=True)
        elif action == "source":
            message_id, _, number = target.partition(":")
            self.open_source(int(message_id), int(number))
        elif action in ("copy", "edit", "regenerate", "previous", "next"):
            self.action_requested.emit(action, int(target))
        elif url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)

    # -- the rating bar -------------------------------------------------------------------------

    def show_rating_bar(self, message_id: int, focus: bool = False) -> None:
        """Put the rating bar under reply `message_id`, scrolled into view (from its Rate link)."""
        if all(span.message_id != message_id for span in self._spans):
            return
        self._target = message_id
        self._place_rating_bar(reveal=True)
        if focus:
            self.rating_bar.up_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def aim_rating_bar(self, message_id: int | None) -> None:
        """The reply the bar goes under at the next paint (None: the last)."""
        self._target = message_id

    def rating_bar_target(self) -> int | None:
        """The reply the rating bar is under, or None when it is hidden."""
        return self.rating_bar.message_id if self.rating_bar.isVisible() else None

    def _place_rating_bar(self, *_args: object, reveal: bool = False) -> None:
        """Lay the bar on the row under its reply; hidden while no saved reply is on screen."""
        spans = {span.message_id: span for span in self._spans}
        target = self._target if self._target in spans else None
        span = spans.get(target) or (self._spans[-1] if self._spans else None)
        if span is None:
            self.rating_bar.hide()
            return
        document = self.document()
        block = document.findBlock(span.rating_line)
        rect = document.documentLayout().blockBoundingRect(block)
        top = rect.top() + block.blockFormat().topMargin()
        vertical = self.verticalScrollBar()
        if reveal:
            height = self.viewport().height()
            if top < vertical.value() or top + self.rating_bar.height() > vertical.value() + height:
                vertical.setValue(int(top - height / 2))
        self.rating_bar.show_rating(span.message_id, self.ratings.get(span.message_id))
        x = rect.left() + block.blockFormat().leftMargin() - self.horizontalScrollBar().value()
        self.rating_bar.move(int(x), int(top - vertical.value()))
        self.rating_bar.show()
        self.rating_bar.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.viewport():
            if event.type() == QEvent.Type.MouseMove:
                self._on_pointer_moved(event.position().toPoint())
            elif event.type() == QEvent.Type.Resize:
                # The transcript lays its text out again after this event: place the bar then.
                QTimer.singleShot(0, self._place_rating_bar)
        return super().eventFilter(watched, event)

    def _on_pointer_moved(self, point: QPoint) -> None:
        position = self.cursorForPosition(point).position()
        for span in self._spans:
            if span.start <= position <= span.end:
                if span.message_id != self.rating_bar_target():
                    self._target = span.message_id
                    self._place_rating_bar()
                return
