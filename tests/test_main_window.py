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
