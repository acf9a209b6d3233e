import pytest

from llamadesk.core import library
from llamadesk.ui.models_view import ImportDialog, ModelsView


@pytest.fixture
def view(qtbot):
    widget = ModelsView()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_import_on_worker_shows_details(qtbot, view, tiny_model_dir):
    with qtbot.waitSignal(view.library_changed, timeout=60_000):
        view.start_import(tiny_model_dir, "tiny", in_place=True)
    assert view.selected_id() == "tiny"
    assert view.breakdown.rowCount() == 11
    assert "equal" in view.totals.text()
    assert not view.task_bar.isVisible()


def test_failed_import_shows_error_and_changes_nothing(qtbot, view, tmp_path):
    (tmp_path / "empty").mkdir()
    task = view.start_import(tmp_path / "empty", "x")
    with qtbot.waitSignal(task.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: view.findChild(object, "errorDialog") is not None)
    assert "not a model" in view.findChild(object, "errorDialog").text()
    assert library.list_models() == []


def test_remove_model(qtbot, view, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    view.refresh()
    with qtbot.waitSignal(view.library_changed):
        view.remove_model("tiny")
    assert view.model_list.count() == 0


def test_drop_opens_import_dialog_for_the_dropped_path(qtbot, view, tiny_model_dir, monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    seen = []
    monkeypatch.setattr(view, "_ask_and_import", seen.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_model_dir))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.dropEvent(event)
    assert seen == [tiny_model_dir]


def test_details_show_the_chat_engine_and_the_memory_to_chat_and_train(qtbot, view, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    view.refresh(select="tiny")
    facts = view.facts.text()
    assert "Chat engine" in facts and "A float model runs on the torch engine" in facts
    assert "Memory to chat" in facts and "Memory to train" in facts
    assert "this computer has ✔" in facts  # a few hundred KiB of weights fit anywhere
    assert "for a LoRA with the default settings: fits ✔" in facts


def test_details_follow_the_quantisation_chosen(qtbot, view, tiny_model_dir, monkeypatch):
    from llamadesk.core import memory_plan

    library.import_model(tiny_model_dir, "tiny", in_place=True)
    seen = []
    real = memory_plan.plan_for_entry
    monkeypatch.setattr(
        memory_plan, "plan_for_entry", lambda entry: seen.append(entry.quantization) or real(entry)
    )
    view.refresh(select="tiny")
    view.quantization_box.setCurrentIndex(view.quantization_box.findData("int8"))
    view._on_quantization_chosen(view.quantization_box.currentIndex())
    assert seen[-1] == "int8"


def test_details_say_so_when_the_memory_cannot_be_planned(qtbot, view, tiny_model_dir, monkeypatch):
    from llamadesk.core import memory_plan
    from llamadesk.core.errors import InvalidModelError

    def refuse(entry):
        raise InvalidModelError("tiny does not say the shape of its model (head_dim).")

    library.import_model(tiny_model_dir, "tiny", in_place=True)
    monkeypatch.setattr(memory_plan, "plan_for_entry", refuse)
    view.refresh(select="tiny")
    assert "does not say the shape of its model" in view.facts.text()
    assert view.breakdown.rowCount() == 11  # the rest of the details still show


@pytest.mark.slow
def test_import_dialog_shows_what_the_starter_needs_before_importing(qtbot, starter_gguf):
    dialog = ImportDialog(starter_gguf)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Chat needs about" in dialog.memory_label.text(), timeout=30_000)
    assert "training a LoRA needs about" in dialog.memory_label.text()
    assert library.list_models() == []  # nothing imported to find out
    dialog.reject()


def test_import_dialog_plans_a_folder_from_its_config(qtbot, tiny_model_dir):
    dialog = ImportDialog(tiny_model_dir)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Chat needs about" in dialog.memory_label.text(), timeout=30_000)
    dialog.reject()


def test_import_dialog_never_fails_on_a_bad_folder(qtbot, tmp_path):
    (tmp_path / "empty").mkdir()
    dialog = ImportDialog(tmp_path / "empty")  # no config: nothing to read, nothing shown
    qtbot.addWidget(dialog)
    assert dialog.memory_label.isHidden()
    dialog.reject()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    dialog = ImportDialog(broken)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "could not be read" in dialog.memory_label.text(), timeout=30_000)
    assert "config.json is not valid JSON" in dialog.memory_label.text()
    dialog.reject()


def test_quantise_for_chat_writes_a_gguf_and_moves_chat_to_llamacpp(qtbot, view, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny")
    view.refresh(select="tiny")
    assert view.quantize_button.isEnabled()
    messages = []
    view.status_message.connect(messages.append)
    with qtbot.waitSignal(view.library_changed, timeout=60_000):
        view.start_quantize("tiny", "q8_0")
    assert library.get_model("tiny").gguf_path.is_file()
    assert messages == ["tiny now chats through llama.cpp."]
    qtbot.waitUntil(view.quantize_button.isEnabled)  # a float model can be quantised again, to another type


def test_a_gguf_model_has_nothing_to_quantise(qtbot, view, starter_gguf):
    library.import_model(starter_gguf, "starter")
    view.refresh(select="starter")
    assert not view.quantize_button.isEnabled()
