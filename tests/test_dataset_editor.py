"""The dataset editor: pairs added, edited and deleted; loaded from and saved to JSONL; stored as a
corpus recognised as instructions; drafted pairs reviewed before they join."""

import json

import pytest

from llamadesk.core import library
from llamadesk.core.corpus import store
from llamadesk.core.drafting import QAPair
from llamadesk.ui.dataset_editor import FILES_SOURCE, DatasetEditor


class FakeEngine:
    """Stands in for the Chat panel's loaded ChatEngine."""

    model = object()  # "a model is loaded"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls = 0

    def count_tokens(self, messages):
        return sum(len(m["content"]) for m in messages) // 4

    def prompt_budget(self, max_new_tokens):
        return 4096

    def stream(self, messages, settings, cancel):
        self.calls += 1
        yield self.reply


@pytest.fixture
def editor(qtbot):
    widget = DatasetEditor()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _finish(qtbot, task):
    assert task is not None
    with qtbot.waitSignal(task.finished, timeout=60_000):
        pass


def test_add_edit_delete_and_export(qtbot, editor, tmp_path):
    for i in range(3):
        editor.add_pair(f"Question {i}?", f"Answer {i}.")
    editor.table.item(1, 1).setText("An edited answer.")
    editor.table.selectRow(0)
    editor.delete_selected()
    assert editor.pairs() == [QAPair("Question 1?", "An edited answer."), QAPair("Question 2?", "Answer 2.")]
    assert editor.count_label.text() == "2 pairs"

    editor.add_button.click()  # a blank row, opened for typing; left blank it is not written
    assert editor.table.rowCount() == 3
    path = tmp_path / "set.jsonl"
    editor.export_jsonl(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"instruction": "Question 1?", "output": "An edited answer."},
        {"instruction": "Question 2?", "output": "Answer 2."},
    ]

    editor.set_pairs([])
    editor.load_file(path)
    assert [p.question for p in editor.pairs()] == ["Question 1?", "Question 2?"]


def test_save_as_corpus_is_recognised_as_instructions(qtbot, editor):
    editor.set_pairs([QAPair(f"问题 {i}：首都是哪里？", f"北京 {i}。") for i in range(25)])
    editor.seed_spin.setValue(9)
    with qtbot.waitSignal(editor.corpus_added, timeout=60_000) as added:
        _finish(qtbot, editor.save_as_corpus("private-qa"))
    assert added.args == ["private-qa"]
    entry = store.get_corpus("private-qa")
    assert entry.kind == "instructions" and entry.manifest["split"]["seed"] == 9
    assert sum(entry.summary().conversations.values()) == 25

    editor.save_as_corpus("")  # no name: refused with a dialog, nothing stored
    qtbot.waitUntil(lambda: editor.findChild(object, "errorDialog") is not None)
    assert [c.id for c in store.list_corpora()] == ["private-qa"]


def test_drafted_pairs_are_reviewed_before_they_join(qtbot, tmp_path):
    doc = tmp_path / "llamas.txt"
    doc.write_text("Llamas live in the Andes.\n\nThey carry loads for people.", encoding="utf-8")
    engine = FakeEngine("Q: Where do llamas live?\nA: In the Andes.\nQ: What do they carry?\nA: Loads.")
    editor = DatasetEditor(engine_source=lambda: engine)
    qtbot.addWidget(editor)
    editor.set_documents([str(doc)])
    assert editor.source_combo.currentData() == FILES_SOURCE
    editor.add_pair("Existing?", "Yes.")

    _finish(qtbot, editor.start_draft())
    proposals = editor.proposals()
    assert [p.question for p, _checked in proposals] == ["Where do llamas live?", "What do they carry?"]
    assert all(checked for _p, checked in proposals) and proposals[0][0].source == "llamas.txt"
    assert editor.pairs() == [QAPair("Existing?", "Yes.")]  # nothing joins unreviewed

    editor.review_table.item(0, 1).setText("High in the Andes.")  # edited during review
    editor.review_table.item(1, 0).setCheckState(editor.review_table.item(1, 0).checkState().Unchecked)
    assert editor.accept_checked() == 1
    assert editor.pairs() == [
        QAPair("Existing?", "Yes."),
        QAPair("Where do llamas live?", "High in the Andes."),
    ]
    assert editor.review_table.rowCount() == 0 and engine.calls == 1
    editor.shutdown()


def test_drafting_without_a_loaded_chat_model_loads_the_chosen_one(qtbot, tiny_model_dir, tmp_path):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nThe capital of France is Paris.", encoding="utf-8")
    editor = DatasetEditor(engine_source=lambda: None)
    qtbot.addWidget(editor)
    editor.set_documents([str(doc)])
    assert editor.model_combo.currentText() == "tiny"
    _finish(qtbot, editor.start_draft())
    # The tiny model's 256 positions cannot hold the request: said in one sentence, not a traceback.
    qtbot.waitUntil(lambda: editor.findChild(object, "errorDialog") is not None)
    assert "context is too short" in editor.findChild(object, "errorDialog").text()
    editor.shutdown()


def test_opening_a_text_corpus_chooses_it_to_draft_from(qtbot, editor, tmp_path):
    (tmp_path / "notes.txt").write_text("Llamas live in the Andes.", encoding="utf-8")
    store.add_corpus([tmp_path / "notes.txt"], "notes")
    assert editor.open_corpus("notes") is None  # nothing to read: no pairs in a text corpus
    assert editor.source_combo.currentData() == "notes" and editor.table.rowCount() == 0
