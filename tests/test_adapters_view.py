import pytest

from llamadesk.core import adapters, library
from llamadesk.ui.adapters_view import AdaptersView
from tests.test_adapters import make_adapter


@pytest.fixture
def view(qtbot, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    widget = AdaptersView()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _finish(qtbot, task):
    assert task is not None
    with qtbot.waitSignal(task.finished, timeout=60_000):
        pass


def _select(view, adapter_id):
    root = view.tree.topLevelItem(0)
    for i in range(root.childCount()):
        if root.child(i).text(0) == adapter_id:
            view.tree.setCurrentItem(root.child(i))


def test_import_merge_and_compare(qtbot, view, tiny_model_dir, tmp_path):
    folder = make_adapter(tiny_model_dir, tmp_path / "zh-lora")
    with qtbot.waitSignal(view.adapters_changed, timeout=60_000):
        _finish(qtbot, view.start_import(folder, "tiny", "zh-lora"))
    assert [a.id for a in adapters.list_adapters("tiny")] == ["zh-lora"]
    _select(view, "zh-lora")
    assert view.merge_button.isEnabled()
    assert "zh-lora" in view.details.toPlainText()
    assert view.checked_variants() == [None, "zh-lora"]

    with qtbot.waitSignal(view.library_changed, timeout=60_000):
        _finish(qtbot, view.start_merge("zh-lora", "tiny-zh"))
    assert library.get_model("tiny-zh").manifest["lineage"]["adapter"] == "zh-lora"

    _select(view, "zh-lora")
    _finish(qtbot, view.start_compare("tiny", [None, "zh-lora"], "Hello"))
    titles = [view.replies_layout.itemAt(i).widget().title() for i in range(view.replies_layout.count())]
    assert titles == ["Base model", "zh-lora"]


def test_import_for_wrong_base_shows_error(qtbot, view, tmp_path):
    from tests.test_adapters import make_model

    other = make_model(tmp_path / "other")
    folder = make_adapter(other, tmp_path / "foreign")
    _finish(qtbot, view.start_import(folder, "tiny"))
    qtbot.waitUntil(lambda: view.findChild(object, "errorDialog") is not None)
    assert "hidden size" in view.findChild(object, "errorDialog").text()
    assert adapters.list_adapters() == []
