"""Preferences: stored in their own INI file, edited in the Settings dialog, applied by the main
window (theme, runtime, chat defaults); keyboard shortcuts; the first-run guide."""

import os
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from llamadesk.core import library, runtime
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.starter import STARTER_ID
from llamadesk.ui.main_window import MainWindow
from llamadesk.ui.settings import AppSettings, settings_file
from llamadesk.ui.settings_dialog import SettingsDialog
from llamadesk.ui.theme import apply_theme, is_dark
from llamadesk.ui.welcome import WelcomeDialog


@pytest.fixture
def window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    yield window
    window.models_view.task_bar.shutdown()
    window.close()


@pytest.fixture
def restore_theme(qapp):
    yield
    apply_theme(qapp, "light")


@pytest.fixture
def restore_runtime():
    before = runtime.current()
    yield
    runtime.configure(before)


def test_settings_live_in_the_redirected_file_and_persist(settings_file):
    assert settings_file_is_used(settings_file)
    settings = AppSettings()
    assert (settings.theme, settings.language, settings.default_model, settings.data_folder) == (
        "system",
        "",
        "",
        "",
    )
    assert settings.sampling == GenerationSettings() and settings.runtime_options == runtime.RuntimeOptions()
    assert settings.welcome_shown is False

    settings.theme = "dark"
    settings.language = "zh_CN"
    settings.default_model = "tiny"
    settings.data_folder = "/data/llamas"
    settings.sampling = GenerationSettings(temperature=0.0, top_k=0, seed=7)
    settings.runtime_options = runtime.RuntimeOptions(device="cpu", dtype="bfloat16", threads=2)
    settings.welcome_shown = True
    settings.sync()

    again = AppSettings()
    assert (again.theme, again.language, again.default_model, again.data_folder) == (
        "dark",
        "zh_CN",
        "tiny",
        "/data/llamas",
    )
    assert again.sampling == GenerationSettings(temperature=0.0, top_k=0, seed=7)
    assert again.runtime_options == runtime.RuntimeOptions(device="cpu", dtype="bfloat16", threads=2)
    assert again.welcome_shown is True
    assert "[appearance]" in settings_file.read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        settings.theme = "purple"


def settings_file_is_used(path) -> bool:
    return settings_file() == path and os.environ["LLAMADESK_SETTINGS"] == str(path)


def test_a_damaged_settings_file_falls_back_to_defaults(settings_file):
    settings_file.write_text(
        '[chat]\nsampling={"temperature": 99}\n[runtime]\ndevice=tpu\n[appearance]\ntheme=neon\n',
        encoding="utf-8",
    )
    settings = AppSettings()
    assert settings.sampling == GenerationSettings()
    assert settings.runtime_options == runtime.RuntimeOptions()
    assert settings.theme == "system"


def test_dialog_shows_and_saves_every_setting(qtbot, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    AppSettings().sampling = GenerationSettings(temperature=0.3)
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    assert dialog.sampling_fields.temperature_spin.value() == pytest.approx(0.3)
    assert dialog.model_combo.findData("tiny") > 0
    assert [dialog.language_combo.itemData(i) for i in range(dialog.language_combo.count())] == [
        "",
        "en",
        "zh_CN",
    ]

    dialog.folder_edit.setText("/data/llamas")
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("tiny"))
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("dark"))
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("zh_CN"))
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.dtype_combo.setCurrentIndex(dialog.dtype_combo.findData("float32"))
    dialog.threads_spin.setValue(1)
    dialog.sampling_fields.max_tokens_spin.setValue(64)
    dialog.sampling_fields.seed_spin.setValue(5)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    saved = AppSettings()
    assert saved.data_folder == "/data/llamas" and saved.default_model == "tiny"
    assert (saved.theme, saved.language) == ("dark", "zh_CN")
    assert saved.runtime_options == runtime.RuntimeOptions(device="cpu", dtype="float32", threads=1)
    assert saved.sampling == GenerationSettings(temperature=0.3, max_new_tokens=64, seed=5)


def test_dialog_refuses_an_out_of_range_value_and_stays_open(qtbot):
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    top_p = dialog.sampling_fields.top_p_spin
    top_p.setMinimum(0.0)  # the spin box already prevents it; the settings check too
    top_p.setValue(0.0)
    dialog.accept()
    assert dialog.isVisible() and "Top-p" in dialog.error_label.text()
    assert AppSettings().sampling == GenerationSettings()


def test_theme_switch_changes_the_palette(qapp, restore_theme):
    apply_theme(qapp, "dark")
    assert is_dark(qapp.palette())
    assert qapp.styleHints().colorScheme() in (Qt.ColorScheme.Dark, Qt.ColorScheme.Unknown)
    window_colour = qapp.palette().color(QPalette.ColorRole.Window)
    assert window_colour.lightness() < 80
    assert "QCheckBox::indicator" in qapp.styleSheet()  # outlines that read on a dark window
    assert all(Path(icon).is_file() for icon in re.findall(r"url\(([^)]+)\)", qapp.styleSheet()))
    apply_theme(qapp, "light")
    assert not is_dark(qapp.palette()) and qapp.styleSheet() == ""
    assert qapp.style().name().lower() == "fusion"


def test_ok_in_settings_applies_theme_runtime_and_chat_defaults(
    qtbot, window, restore_theme, restore_runtime
):
    dialog = window.open_settings()
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("dark"))
    dialog.threads_spin.setValue(1)
    dialog.sampling_fields.temperature_spin.setValue(0.0)
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("zh_CN"))
    dialog.accept()
    assert is_dark(QApplication.instance().palette())
    assert runtime.current().threads == 1
    assert window.chat_view.settings().temperature == 0.0  # the empty new chat shows the new default
    assert "restart" in window.statusBar().currentMessage()


def test_shortcuts(qtbot, window):
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # shortcuts reach it only then
    shortcuts = {
        action.shortcut().toString(): action
        for action in (window.new_chat_action, window.search_action, window.settings_action)
    }
    assert set(shortcuts) == {"Ctrl+N", "Ctrl+K", "Ctrl+,"}

    window.tabs.setCurrentWidget(window.models_view)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.chat_view
    qtbot.waitUntil(lambda: window.chat_view.search_edit.hasFocus())

    window.tabs.setCurrentWidget(window.train_view)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.chat_view
    assert window.chat_view.current_conversation() is None

    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(SettingsDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.reject()


def test_welcome_is_shown_once_with_the_starter_and_leads_on(qtbot, window, tiny_model_dir):
    assert window.show_welcome_if_needed() is None  # no starter model in the library yet
    library.import_model(tiny_model_dir, STARTER_ID, in_place=True)
    dialog = window.show_welcome_if_needed()
    assert isinstance(dialog, WelcomeDialog) and AppSettings().welcome_shown
    assert STARTER_ID in dialog.model_label.text()
    assert window.show_welcome_if_needed() is None  # once only

    dialog.prompt_button.click()
    assert window.tabs.currentWidget() is window.chat_view
    assert window.chat_view.input.toPlainText() == dialog.suggestion

    for name, view in (
        ("models", window.models_view),
        ("adapters", window.adapters_view),
        ("train", window.train_view),
        ("evaluate", window.evaluate_view),
    ):
        again = window.show_welcome()  # Help ▸ Welcome guide
        again.destination_buttons[name].click()
        assert window.tabs.currentWidget() is view
    assert window.welcome_action.text()


def test_the_cli_uses_the_data_folder_chosen_in_settings(tmp_path, monkeypatch, tiny_model_dir, capsys):
    from llamadesk.cli import main
    from llamadesk.core import paths

    monkeypatch.setattr(paths, "_pinned_home", None)  # restored after: pinning is per process
    chosen = tmp_path / "chosen-data"
    AppSettings().data_folder = str(chosen)
    monkeypatch.delenv("LLAMADESK_HOME")
    assert main(["models", "import", str(tiny_model_dir), "--name", "tiny", "--in-place"]) == 0
    assert os.environ["LLAMADESK_HOME"] == str(chosen)  # pinned: child processes follow it
    assert (chosen / "models" / "tiny").is_dir() and [m.id for m in library.list_models()] == ["tiny"]

    AppSettings().data_folder = ""  # back to the platform's folder for processes started later
    assert AppSettings().data_folder == "" and not (tmp_path / "data-folder.txt").exists()


def test_a_data_folder_kept_by_an_earlier_version_moves_to_cores_file(settings_file):
    from PySide6.QtCore import QSettings

    old = QSettings(str(settings_file), QSettings.Format.IniFormat)
    old.setValue("data/folder", "/data/older")
    old.sync()
    settings = AppSettings()
    settings.move_legacy_data_folder()
    settings.sync()
    assert settings.data_folder == "/data/older"
    assert (settings_file.parent / "data-folder.txt").read_text(encoding="utf-8") == "/data/older\n"
    assert QSettings(str(settings_file), QSettings.Format.IniFormat).value("data/folder") is None


def test_the_dialog_says_llamadesk_home_wins_only_when_it_was_set_from_outside(qtbot, tmp_path, monkeypatch):
    from llamadesk.core import paths
    from llamadesk.ui.settings_dialog import SettingsDialog

    monkeypatch.setattr(paths, "_pinned_home", None)
    assert paths.home_overridden()  # the test's own LLAMADESK_HOME, as a launch script would set it
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    assert "LLAMADESK_HOME is set" in dialog.folder_note.text()

    AppSettings().data_folder = str(tmp_path / "chosen")
    monkeypatch.delenv("LLAMADESK_HOME")
    paths.pin_data_home()
    assert os.environ["LLAMADESK_HOME"] == str(tmp_path / "chosen") and not paths.home_overridden()
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    assert (
        dialog.folder_note.text()
        == "Models, chats and runs live here. A change takes effect at the next start."
    )


def _unusable_folder(tmp_path):
    """A folder that cannot be made: its parent is a file (like a path on a drive that is gone)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    return blocker / "data"


def test_an_unusable_data_folder_is_one_sentence_in_the_cli(tmp_path, monkeypatch, capsys):
    from llamadesk.cli import main

    monkeypatch.setenv("LLAMADESK_HOME", str(_unusable_folder(tmp_path)))
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llamadesk: The data folder ") and "cannot be used" in err and "\n" not in err


def test_an_unusable_data_folder_is_one_dialog_in_the_window(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from llamadesk.ui import app as app_module

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    monkeypatch.setenv("LLAMADESK_HOME", str(_unusable_folder(tmp_path)))
    assert app_module.run_app() == 2
    assert len(shown) == 1 and "cannot be used" in shown[0]


def test_an_unusable_chosen_folder_says_where_the_choice_is_kept(
    tmp_path, monkeypatch, capsys, settings_file
):
    from llamadesk.cli import main
    from llamadesk.core import paths

    monkeypatch.setattr(paths, "_pinned_home", None)
    AppSettings().data_folder = str(_unusable_folder(tmp_path))
    monkeypatch.delenv("LLAMADESK_HOME")
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert "chosen in Settings" in err and str(settings_file.parent / "data-folder.txt") in err
    assert (
        settings_file.parent / "data-folder.txt"
    ).is_file()  # the choice is kept for when the drive is back
