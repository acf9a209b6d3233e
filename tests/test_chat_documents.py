"""Chat grounded in a corpus, in the window: the Documents picker lists the library's corpora, a
reply written from them keeps its passages (in the history and on screen, across a restart), and a
passage opens from the reply's Sources line."""

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

from llamadesk.core import library
from llamadesk.core.corpus import store
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import export_markdown
from llamadesk.ui.chat.passage_dialog import PassageDialog
from llamadesk.ui.chat_view import ChatView
from llamadesk.ui.settings import AppSettings

SHORT = GenerationSettings(temperature=0.0, repetition_penalty=1.1, max_new_tokens=8)


@pytest.fixture
def notes(tmp_path) -> Path:
    """Short: the tiny model's context holds 256 tokens of its byte-level vocabulary."""
    path = tmp_path / "lumen_notes.md"
    path.write_text("Mara Okafor founded Lumen Tea.\n\nThe mascot is a heron.\n", encoding="utf-8")
    return path


@pytest.fixture
def view(qtbot, tiny_model_dir, notes):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    store.add_corpus([notes], "lumen")
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.loaded_model() == "tiny", timeout=60_000)
    view.set_settings(SHORT)
    AppSettings().sampling = SHORT
    yield view
    view.shutdown()


def test_a_reply_from_the_documents_keeps_and_shows_its_passages(qtbot, view):
    combo = view.model_bar.docs_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [None, "lumen"]
    combo.setCurrentIndex(1)
    view.input.setPlainText("Who founded Lumen Tea?")
    with qtbot.waitSignal(view.reply_finished, timeout=60_000):
        view.send()
    assert not view.notice.isVisible() or "reached the max" in view.notice.text()
    question, reply = view.history.messages(view.current_conversation())
    assert question.content == "Who founded Lumen Tea?"  # the passages went to the model, not the history
    (source,) = reply.sources
    assert (
        source["number"] == 1
        and "Mara Okafor" in source["text"]
        and source["source"].endswith("lumen_notes.md")
    )
    assert "Sources:  [1] lumen_notes.md" in view.transcript.toPlainText()
    assert "Sources:" in export_markdown(view.history.get(view.current_conversation()))

    view.transcript.follow_link(QUrl(f"source:{reply.id}:1"))
    dialog = view.transcript.findChild(PassageDialog)
    assert dialog is not None and "Mara Okafor" in dialog.text.toPlainText()
    assert dialog.file == Path(source["source"])
    dialog.close()


def test_without_documents_no_passages_are_given(qtbot, view):
    view.input.setPlainText("Who founded Lumen Tea?")
    with qtbot.waitSignal(view.reply_finished, timeout=60_000):
        view.send()
    _question, reply = view.history.messages(view.current_conversation())
    assert reply.sources is None and "Sources:" not in view.transcript.toPlainText()


def test_passages_too_long_for_the_context_are_left_out_and_said(qtbot, view, tmp_path):
    """The tiny model's 256-token context takes no passage of 2,000 characters: the question is
    answered without it (never refused as too long), and the notice says why no sources follow."""
    long = tmp_path / "long.md"
    long.write_text("The heron " + "stands in the reeds and waits. " * 70 + "\n", encoding="utf-8")
    store.add_corpus([long], "long")
    view.refresh_models()
    combo = view.model_bar.docs_combo
    combo.setCurrentIndex(combo.findData("long"))
    view.input.setPlainText("What does the heron do?")
    with qtbot.waitSignal(view.reply_finished, timeout=60_000):
        view.send()
    _question, reply = view.history.messages(view.current_conversation())
    assert reply.sources is None
    assert "1 of the passages found did not fit the context window" in view.notice.text()
