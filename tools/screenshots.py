"""Screenshots of every panel in English and Chinese, light and dark, with the real starter model, for
a person to look at (boxes where a font lacks a glyph, clipped text, illegible dark mode).

Run under a virtual display with a CJK font installed (Debian/Ubuntu: fonts-noto-cjk):

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshots.py [OUT_DIR]

It works in a throwaway data folder and settings file (the user's own are never touched), imports the
starter model, asks it one real question, then saves OUT_DIR/<language>-<theme>-<panel>.png
(default OUT_DIR: /tmp/shots)."""

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_WORK = Path(tempfile.mkdtemp(prefix="llamadesk-shots-"))
os.environ["LLAMADESK_HOME"] = str(_WORK / "home")
os.environ["LLAMADESK_SETTINGS"] = str(_WORK / "settings.ini")

from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from llamadesk.core import starter  # noqa: E402
from llamadesk.ui.app import create_application  # noqa: E402
from llamadesk.ui.charts import LineChart  # noqa: E402
from llamadesk.ui.main_window import MainWindow  # noqa: E402
from llamadesk.ui.theme import apply_theme  # noqa: E402
from llamadesk.ui.translations import install_translator  # noqa: E402

QUESTION = "Write a short Python function that adds two numbers, then explain it in one sentence."
SIZE = (1280, 800)


def _wait(app: QApplication, done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for the app")
        app.processEvents()
        time.sleep(0.02)


def _settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _save(widget: QWidget, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(path)


def _sample_chart() -> LineChart:
    chart = LineChart(title="loss", y_label="loss")
    for index, name in enumerate(("train", "eval", "run 2", "run 3", "run 4", "run 5", "run 6", "run 7")):
        chart.set_series(name, [(step, 3.0 - index * 0.2 + 1.0 / (step + 1)) for step in range(40)])
    chart.resize(640, 360)
    return chart


def shoot(app: QApplication, out: Path, language: str, theme: str, ask: bool) -> None:
    install_translator(app, language)
    apply_theme(app, theme)
    window = MainWindow()
    window.resize(*SIZE)
    window.show()
    chat = window.chat_view
    _wait(app, lambda: chat.loaded_model() == starter.STARTER_ID, 180)
    if ask:
        chat.input.setPlainText(QUESTION)
        chat.send()
        _wait(app, lambda: not chat.is_generating(), 300)
    elif chat.conversation_ids():
        chat.open_conversation(chat.conversation_ids()[0])
    prefix = f"{language}-{theme}"
    chat.settings_button.setChecked(True)
    _settle(app)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        _settle(app)
        _save(window, out, f"{prefix}-{index}-{window.tabs.widget(index).__class__.__name__}")
    window.evaluate_view.tabs.setCurrentIndex(1)
    _settle(app)
    _save(window, out, f"{prefix}-4b-ABView")
    for name, dialog in (("settings", window.open_settings()), ("welcome", window.show_welcome())):
        dialog.adjustSize()
        _settle(app)
        _save(dialog, out, f"{prefix}-dialog-{name}")
        dialog.reject()
    chart = _sample_chart()
    chart.show()
    _settle(app)
    _save(chart, out, f"{prefix}-chart")
    chart.close()
    window.models_view.task_bar.shutdown()
    window.close()
    _settle(app)


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "/tmp/shots")
    out.mkdir(parents=True, exist_ok=True)
    app = create_application(["screenshots"])
    print("importing the starter model…", flush=True)
    starter.ensure_starter_model()
    first = True
    for language in ("en", "zh_CN"):
        for theme in ("light", "dark"):
            shoot(app, out, language, theme, ask=first)
            first = False
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
