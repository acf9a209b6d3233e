"""Rules the design rests on: core never imports Qt; the window shows before torch is imported."""

import ast
import os
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "llamadesk" / "core"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_qt():
    offenders = [
        str(path.relative_to(CORE))
        for path in CORE.rglob("*.py")
        if any(
            name.split(".")[0] in {"PySide6", "llamadesk.ui"} or name.startswith("llamadesk.ui")
            for name in _imported_modules(path)
        )
    ]
    assert offenders == []


def test_window_shows_before_torch_is_imported(home):
    code = (
        "import sys\n"
        "from llamadesk.ui.app import create_application\n"
        "app = create_application()\n"
        "from llamadesk.ui.main_window import MainWindow\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen", "LLAMADESK_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "heavy: []" in out.stdout, out.stderr
