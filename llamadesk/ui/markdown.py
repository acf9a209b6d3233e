"""Replies rendered as Markdown in the transcript: Qt's own GitHub-dialect reader, plus code blocks
that look like code, which Qt leaves plain: a fixed-width font on a shaded background, colours from
Pygments for the language the fence names, and a line above each block with its language and a
Copy link (`copy-code:<block number of its first line>`, which the transcript follows)."""

from functools import cache

from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

COPY_CODE = "copy-code"
# Pygments styles for code on a light and on a dark background (both ship with Pygments).
_LIGHT_STYLE, _DARK_STYLE = "default", "monokai"
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
    runs: list[list[QTextBlock]] = []  # the lines of each code block
    block = document.findBlock(start)
    previous_fenced = False
    while block.isValid() and block.position() <= end:
        fenced = block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence)
        if fenced:
            styler = QTextCursor(block)
            styler.mergeBlockFormat(block_format)
            styler.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
            styler.mergeCharFormat(char_format)
            if previous_fenced:
                runs[-1].append(block)
            else:
                runs.append([block])
        previous_fenced = fenced
        block = block.next()
    # From the last block up: a label inserted above one block moves only those after it.
    for run in reversed(runs):
        language = str(run[0].blockFormat().property(QTextFormat.Property.BlockCodeLanguage) or "")
        _highlight(document, run, language, background)
        _insert_label(document, run[0], language)


def _highlight(document: QTextDocument, run: list[QTextBlock], language: str, background: QColor) -> None:
    """Colour the code of one block by its language's tokens; an unknown language stays plain."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    if not language:
        return
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return
    dark = background.lightness() < 128
    code = "\n".join(block.text() for block in run)  # a block boundary is one character, as "\n"
    base = run[0].position()
    cursor = QTextCursor(document)
    for index, token, value in lexer.get_tokens_unprocessed(code):
        token_format = _token_format(token, dark)
        if token_format is None or not value.strip():
            continue
        cursor.setPosition(base + index)
        cursor.setPosition(base + index + len(value), QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(token_format)


@cache
def _token_format(token: object, dark: bool) -> QTextCharFormat | None:
    """What the Pygments style gives `token`: colour, bold, italic (None where it gives nothing)."""
    from pygments.styles import get_style_by_name

    style = get_style_by_name(_DARK_STYLE if dark else _LIGHT_STYLE).style_for_token(token)
    if not (style["color"] or style["bold"] or style["italic"]):
        return None
    token_format = QTextCharFormat()
    if style["color"]:
        token_format.setForeground(QColor(f"#{style['color']}"))
    if style["bold"]:
        token_format.setFontWeight(QFont.Weight.Bold)
    if style["italic"]:
        token_format.setFontItalic(True)
    return token_format


def _insert_label(document: QTextDocument, first: QTextBlock, language: str) -> None:
    """A line above a code block: its language, muted, and a Copy link."""
    code_block_format, code_char_format = first.blockFormat(), first.charFormat()
    position = first.position()
    cursor = QTextCursor(document)
    cursor.setPosition(position)
    cursor.insertBlock(code_block_format, code_char_format)  # the code moves down one block
    cursor.setPosition(position)
    label_format = QTextBlockFormat()
    label_format.setTopMargin(4)
    cursor.setBlockFormat(label_format)
    muted = QTextCharFormat()
    muted.setForeground(QColor(128, 128, 128))
    if language:
        cursor.insertText(language + "   ", muted)
    link = QTextCharFormat()
    link.setAnchor(True)
    link.setAnchorHref(f"{COPY_CODE}:{cursor.block().blockNumber() + 1}")
    link.setFontUnderline(True)
    cursor.insertText(_copy_label(), link)


def _copy_label() -> str:
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.translate("Transcript", "Copy code")


def code_at(document: QTextDocument, block_number: int) -> str:
    """The code of the block whose first line is block `block_number` (what its Copy link copies)."""
    lines = []
    block = document.findBlockByNumber(block_number)
    while block.isValid() and block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
        lines.append(block.text())
        block = block.next()
    return "\n".join(lines)


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
