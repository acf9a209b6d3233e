import pytest

from llamadesk.core import library
from llamadesk.ui.models_view import ModelsView


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
