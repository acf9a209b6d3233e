"""Replies rendered as Markdown in the transcript: Qt's own GitHub-dialect reader, plus code blocks
that look like code (fixed-width font on a shaded background), which Qt leaves plain."""

from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

_DIALECT = QTextDocument.MarkdownFeature.MarkdownDialectGitHub


def insert_markdown(cursor: QTextCursor, text: str, code_background: QColor) -> None:
    """Insert `text` as Markdown at `cursor`, at the start of an empty block (left after it).
    Unclosed fences, as in a reply still being written, render as code up to the end, which is
    what they will turn out to be."""
    start = cursor.position()
    cursor.insertMarkdown(text, _DIALECT)
    _repair_first_block(cursor.document(), start, text)
    _style_code_blocks(cursor.document(), start, cursor.position(), code_background)


def _repair_first_block(document: QTextDocument, start: int, text: str) -> None:
    """Qt merges the first paragraph of inserted Markdown into the block it lands in, dropping that
    paragraph's own format (a heading's level, a quote's margin), yet puts a list after that block,
    leaving it empty. Either way the result would differ from the same text rendered on its own."""
    block = document.findBlock(start)
    following = block.next()
    if block.length() == 1 and following.isValid() and following.textList() is not None:
        QTextCursor(following).deletePreviousChar()
        return
    head = QTextDocument()
    head.setMarkdown(text.split("\n\n", 1)[0], _DIALECT)
    QTextCursor(block).setBlockFormat(head.begin().blockFormat())


def _style_code_blocks(document: QTextDocument, start: int, end: int, background: QColor) -> None:
    block_format = QTextBlockFormat()
    block_format.setBackground(background)
    char_format = QTextCharFormat()
    char_format.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    block = document.findBlock(start)
    while block.isValid() and block.position() <= end:
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            styler = QTextCursor(block)
            styler.mergeBlockFormat(block_format)
            styler.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
            styler.mergeCharFormat(char_format)
        block = block.next()


def settled_length(text: str, start: int = 0) -> int:
    """How much of a growing Markdown `text` can no longer change how it renders: everything up to
    the last blank line outside a code fence (`start` must be such a point, or 0)."""
    settled = start
    position = start
    in_fence = False
    for line in text[start:].splitlines(keepends=True):
        position += len(line)
        if not line.endswith("\n"):
            break  # still being written
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and not line.strip():
            settled = position
    return settled


class MarkdownStream:
    """Paints a reply that grows token by token into `document`, from `anchor` to the end.

    Re-rendering the whole reply on every paint would cost time in proportion to its length (about
    1 ms per 1,000 characters), so long replies would stall the GUI. Paragraphs followed by a blank
    line outside a code fence cannot change any more: they are painted once, and only the tail
    after them is repainted."""

    def __init__(self, document: QTextDocument, anchor: int, code_background: QColor) -> None:
        self._document = document
        self._live = anchor  # where the part still being repainted starts
        self._settled = 0  # characters of the text painted for good
        self._background = code_background

    def update(self, text: str) -> None:
        cursor = QTextCursor(self._document)
        cursor.setPosition(self._live)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cursor.setBlockFormat(QTextBlockFormat())
        cursor.setCharFormat(QTextCharFormat())
        settled = settled_length(text, self._settled)
        if settled > self._settled:
            insert_markdown(cursor, text[self._settled : settled], self._background)
            if cursor.block().length() > 1:  # a code block leaves an empty block behind; reuse it
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            else:
                cursor.setBlockFormat(QTextBlockFormat())
            self._live = cursor.position()
            self._settled = settled
        insert_markdown(cursor, text[self._settled :], self._background)
