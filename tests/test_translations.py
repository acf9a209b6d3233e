"""Every user-visible string in the GUI goes through Qt's translation, and the Chinese catalogue is
complete and current: a string that is not wrapped, or not translated, shows up in English to a
Chinese user."""

import ast
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UI_DIR = ROOT / "llamadesk" / "ui"
TS_FILE = ROOT / "resources" / "translations" / "llamadesk_zh_CN.ts"
# Installed with PySide6 beside the interpreter running the tests (CI's venv as well as ours).
LUPDATE = Path(sys.executable).parent / "pyside6-lupdate"

# Methods whose positional string arguments are shown to the user.
TEXT_METHODS = {
    "setText",
    "setWindowTitle",
    "setToolTip",
    "setStatusTip",
    "setWhatsThis",
    "setPlaceholderText",
    "setAccessibleName",
    "setAccessibleDescription",
    "setTitle",
    "setLabelText",
    "setInformativeText",
    "setDetailedText",
    "setSuffix",
    "setPrefix",
    "setSpecialValueText",
    "setFormat",
    "setHeaderLabels",
    "setHorizontalHeaderLabels",
    "setVerticalHeaderLabels",
    "addTab",
    "insertTab",
    "setTabText",
    "setTabToolTip",
    "addItem",
    "addItems",
    "insertItem",
    "setItemText",
    "addAction",
    "addMenu",
    "addButton",
    "addRow",
    "showMessage",
    "getText",
    "getItem",
    "getInt",
    "getOpenFileName",
    "getOpenFileNames",
    "getSaveFileName",
    "getExistingDirectory",
}
# QMessageBox's static helpers, named like logging's methods, so only counted on QMessageBox itself.
MESSAGE_BOX_STATICS = {"information", "warning", "critical", "question", "about"}
# Widgets and dialogs whose constructor's string arguments are shown to the user.
TEXT_CLASSES = {
    "QLabel",
    "QPushButton",
    "QToolButton",
    "QCheckBox",
    "QRadioButton",
    "QGroupBox",
    "QAction",
    "QMenu",
    "QMessageBox",
    "QListWidgetItem",
    "QTreeWidgetItem",
    "QTableWidgetItem",
    "QStandardItem",
}
# The project's own helpers that show their text arguments (the first argument is the parent).
HELPERS_SKIP_FIRST = {"show_error", "confirm"}
TEXT_KEYWORDS = {"text", "title", "toolTip", "placeholderText", "label", "caption"}
# Literals that read the same in every language.
ALLOWED = {"LlamaDesk", "GGUF", "LoRA", "SFT", "%p%", "-merged"}
# Which positional arguments carry text, where the others are data, file names or parents.
TEXT_ARGS = {
    "addItem": slice(0, 1),
    "insertItem": slice(1, 2),
    "getOpenFileName": slice(1, 2),
    "getOpenFileNames": slice(1, 2),
    "getSaveFileName": slice(1, 2),
    "getExistingDirectory": slice(1, 2),
}
_MARKUP = re.compile(r"<[^>]*>|&\w+;|\{\d*\}")


def _has_words(text: str) -> bool:
    """Letters outside HTML tags, entities and format fields, so "<table>" or "{0}" pass."""
    text = _MARKUP.sub("", text).strip()
    return bool(re.search(r"[^\W\d_]", text)) and text not in ALLOWED


def _func_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _untranslated(node: ast.expr) -> list[ast.expr]:
    """Literal text reaching the call without passing through tr(): plain strings, f-strings,
    either branch of a conditional, pieces of a concatenation, list elements, and `"...".format()`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node] if _has_words(node.value) else []
    if isinstance(node, ast.JoinedStr):
        pieces = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        return [node] if _has_words(pieces) else []
    if isinstance(node, ast.IfExp):
        return _untranslated(node.body) + _untranslated(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _untranslated(node.left) + _untranslated(node.right)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [bad for element in node.elts for bad in _untranslated(element)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _untranslated(node.func.value)
    return []


def _offenders(tree: ast.Module) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _func_name(node.func)
        if name in {"tr", "translate"}:
            # lupdate can only extract a literal; an f-string inside tr() is never translated.
            found += [arg for arg in node.args if isinstance(arg, ast.JoinedStr)]
            continue
        on_message_box = (
            isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "QMessageBox"
        )
        if name in TEXT_METHODS or name in TEXT_CLASSES or (on_message_box and name in MESSAGE_BOX_STATICS):
            args = node.args[TEXT_ARGS.get(name, slice(None))]
        elif name in HELPERS_SKIP_FIRST:
            args = node.args[1:]
        else:
            continue
        for arg in args:
            found += _untranslated(arg)
        for keyword in node.keywords:
            if keyword.arg in TEXT_KEYWORDS:
                found += _untranslated(keyword.value)
    return found


def test_user_visible_strings_are_wrapped_for_translation() -> None:
    problems = []
    for path in sorted([*UI_DIR.glob("*.py"), *UI_DIR.glob("*/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _offenders(tree):
            problems.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not problems, "Wrap these in self.tr(...):\n" + "\n".join(problems)


def test_no_tr_call_hides_inside_an_f_string() -> None:
    """lupdate does not look inside an f-string's braces: a tr() there never reaches the catalogue
    and shows English in a Chinese window."""
    problems = []
    for path in sorted([*UI_DIR.glob("*.py"), *UI_DIR.glob("*/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and getattr(call.func, "attr", None) in ("tr", "translate"):
                        problems.append(f"{path.name}:{call.lineno}: {ast.unparse(call)}")
    assert not problems, "Call tr() before the f-string:\n" + "\n".join(problems)


def _messages(ts: Path) -> list[tuple[str, str, ET.Element]]:
    root = ET.parse(ts).getroot()
    return [
        (context.findtext("name", ""), message.findtext("source", ""), message)
        for context in root.iter("context")
        for message in context.iter("message")
    ]


def test_chinese_catalogue_is_complete() -> None:
    missing = []
    for context, source, message in _messages(TS_FILE):
        translation = message.find("translation")
        if translation is None:
            missing.append(f"{context}: {source!r} (no translation)")
            continue
        kind = translation.get("type", "")
        has_text = bool((translation.text or "").strip()) or any(
            (form.text or "").strip() for form in translation.iter("numerusform")
        )
        if kind in {"unfinished", "vanished", "obsolete"} or not has_text:
            missing.append(f"{context}: {source!r} ({kind or 'empty'})")
    assert not missing, "Untranslated in the Chinese catalogue:\n" + "\n".join(missing)


@pytest.mark.skipif(not LUPDATE.exists(), reason="pyside6-lupdate is not installed")
def test_chinese_catalogue_matches_the_source(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.ts"
    shutil.copy(TS_FILE, fresh)
    sources = sorted(str(p) for p in [*UI_DIR.glob("*.py"), *UI_DIR.glob("*/*.py")])
    subprocess.run(
        [str(LUPDATE), *sources, "-no-obsolete", "-locations", "none", "-ts", str(fresh)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    current = {(context, source) for context, source, _ in _messages(TS_FILE)}
    wanted = {(context, source) for context, source, _ in _messages(fresh)}
    assert current == wanted, (
        "The catalogue is out of date; run pyside6-lupdate and translate.\n"
        f"new in the source: {sorted(wanted - current)}\nno longer in the source: {sorted(current - wanted)}"
    )


def test_language_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadesk.ui.translations import choose_language

    monkeypatch.setenv("LLAMADESK_LANG", "zh_CN")
    assert choose_language() == "zh_CN"
    assert choose_language("en") == "en"
    assert choose_language("zh_SG") == "zh_CN"
    assert choose_language("zh-CN.UTF-8") == "zh_CN"
    assert choose_language("fr_FR") == "en"


def test_chinese_interface(qapp, qtbot) -> None:  # noqa: ANN001 (pytest-qt fixtures)
    from llamadesk.ui.charts import LineChart
    from llamadesk.ui.main_window import MainWindow
    from llamadesk.ui.translations import install_translator

    try:
        assert install_translator(qapp, "zh_CN") == "zh_CN"
        window = MainWindow()
        qtbot.addWidget(window)
        assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
            "对话",
            "模型",
            "适配器",
            "训练",
            "评估",
        ]
        # A subclass finds the text lupdate filed under the base class that calls tr().
        assert LineChart()._placeholder == "暂无数据"
        window.models_view.task_bar.shutdown()
        window.close()
    finally:
        assert install_translator(qapp, "en") == "en"
    assert qapp.translate("MainWindow", "Chat") == "Chat"


def test_a_chinese_interface_draws_han_characters_in_simplified_forms(qapp) -> None:  # noqa: ANN001
    """Fontconfig falls back to Noto Sans CJK JP for Han characters whatever the language: Japanese
    forms of 直 or 关 in a Chinese interface."""
    from PySide6.QtGui import QFontDatabase, QTextLayout

    from llamadesk.ui.translations import HAN_FAMILIES, install_translator

    simplified = [f for f in HAN_FAMILIES["zh_CN"] if f in QFontDatabase.families()]
    if not simplified:
        pytest.skip("no Simplified Chinese font installed (Debian: fonts-noto-cjk)")
    try:
        install_translator(qapp, "zh_CN")
        layout = QTextLayout("直接关闭", qapp.font())
        layout.beginLayout()
        layout.createLine()
        layout.endLayout()
        assert {run.rawFont().familyName() for run in layout.glyphRuns()} == {simplified[0]}
    finally:
        install_translator(qapp, "en")
    assert qapp.font().families() == [qapp.font().family()]
