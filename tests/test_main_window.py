from llamadesk.core import library
from llamadesk.ui.main_window import MainWindow


def test_panels_wired_and_close_is_clean(qtbot, tiny_model_dir):
    window = MainWindow()
    qtbot.addWidget(window)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Chat",
        "Models",
        "Adapters",
        "Train",
        "Evaluate",
    ]
    assert window.import_starter_if_needed() is False or window.models_view.task_bar.is_busy()
    window.models_view.task_bar.shutdown()
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    window.models_view.library_changed.emit()
    assert window.adapters_view.tree.topLevelItem(0).text(0) == "tiny"
    window.close()


def test_first_run_shows_the_preparation_on_the_chat_panel(qtbot, monkeypatch):
    """The starter's import, as the window runs it: its progress shows on the Chat tab too."""
    from PySide6.QtCore import QObject, Signal

    from llamadesk.core import starter

    class FakeTask(QObject):
        progressed = Signal(float, str)
        succeeded = Signal(object)
        failed = Signal(str)
        cancelled = Signal()

    task = FakeTask()
    window = MainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(starter, "starter_needs_import", lambda: True)
    monkeypatch.setattr(starter, "find_starter_gguf", lambda: None)
    monkeypatch.setattr(window.models_view, "start_import", lambda _src, _name: task)
    try:
        assert window.import_starter_if_needed() is True
        assert window.tabs.currentWidget() is window.chat_view
        window.show()
        task.progressed.emit(0.3, "Reading tokenizer")
        banner = window.chat_view.banner
        assert banner.isVisible() and banner.progress_bar.value() == 300
        assert banner.step.text() == "Reading tokenizer"
        task.failed.emit("The import failed: disk full.")
        assert not banner.isVisible()
    finally:
        window.close()
