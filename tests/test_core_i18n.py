"""Messages from core (errors, progress texts) reach a Chinese user in Chinese: every template is
marked with `_()` (or `N_()` where a constant holds it), the zh_CN catalogue covers each one with the
same placeholders and nothing more, and no user-facing error is raised with bare English text."""

import ast
import json
import string
from pathlib import Path

import pytest

from llamadesk.core import i18n

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "llamadesk" / "core", ROOT / "llamadesk" / "cli"]
CATALOGUE = i18n.catalogue_path("zh_CN")
MARKERS = {"_", "N_"}
# ValueErrors whose text is embedded in a LlamaDeskError's message, so it must be translated too.
EMBEDDED_ERRORS = {"RecordError"}


@pytest.fixture(autouse=True)
def english_afterwards():
    """Every test here may switch the language; the rest of the suite expects English."""
    yield
    i18n.set_language(i18n.ENGLISH)


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for folder in SCANNED
        for path in sorted(folder.rglob("*.py"))
    ]


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def _templates() -> dict[str, str]:
    """Every template marked in core and cli -> one place it is used."""
    found = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in MARKERS and isinstance(node.func, ast.Name):
                argument = node.args[0] if node.args else None
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.setdefault(argument.value, _where(path, node))
    return found


def _fields(template: str) -> list[tuple[str, str, str | None]]:
    """(name, format spec, conversion) of each placeholder, sorted, so order may differ by language."""
    return sorted(
        (name, spec or "", conversion)
        for _text, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    )


def _catalogue() -> dict[str, str]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def test_marked_templates_are_literals():
    """`_(f"...")` would look up a text no catalogue can hold; formatting comes after the lookup."""
    bad = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            marker = (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS
            )
            if marker and (len(node.args) != 1 or isinstance(node.args[0], ast.JoinedStr)):
                bad.append(_where(path, node))
    assert bad == []


def test_every_template_is_translated_with_the_same_placeholders():
    catalogue = _catalogue()
    templates = _templates()
    assert len(templates) > 200  # the scan found the messages, not an empty tree
    missing = {t: place for t, place in templates.items() if not catalogue.get(t)}
    assert missing == {}
    differing = {t: catalogue[t] for t in templates if _fields(t) != _fields(catalogue[t])}
    assert differing == {}


def test_catalogue_has_no_stale_entries():
    stale = sorted(set(_catalogue()) - set(_templates()))
    assert stale == []


def _user_error_classes(modules) -> set[str]:
    """LlamaDeskError and every class derived from it in core and cli, by name."""
    bases = {}
    for _path, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {_name(base) for base in node.bases}
    found = {"LlamaDeskError"}
    while grown := {name for name, parents in bases.items() if parents & found} - found:
        found |= grown
    return found


def test_user_errors_are_never_raised_with_bare_text():
    """A user-facing error built from a literal or an f-string stays English in the Chinese UI."""
    modules = _modules()
    classes = _user_error_classes(modules) | EMBEDDED_ERRORS
    assert {"NotFoundError", "UnreadableFile", "MemoryRefusal", "SpecError"} <= classes
    bare = []
    for path, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in classes:
                arguments = [*node.args, *(k.value for k in node.keywords)]
                if any(
                    isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Constant) and isinstance(a.value, str))
                    for a in arguments
                ):
                    bare.append(_where(path, node))
    assert bare == []


def test_modules_using_the_marker_never_rebind_it():
    """`text, _ = ...` in a module that imports `_` shadows the translation function."""
    rebound = []
    for path, tree in _modules():
        imports_marker = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "llamadesk.core.i18n"
            and "_" in {alias.name for alias in node.names}
            for node in tree.body
        )
        if imports_marker:
            rebound += [
                _where(path, node)
                for node in ast.walk(tree)
                if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)
            ]
    assert rebound == []


def test_english_by_default_and_unknown_languages_fall_back():
    assert i18n.language() == "en"
    assert i18n._("There is no corpus '{corpus_id}'.") == "There is no corpus '{corpus_id}'."
    assert i18n.set_language("fr_FR") == "en"
    assert i18n.set_language("zh_CN") == "zh_CN" and i18n.language() == "zh_CN"
    assert i18n._("a text no catalogue holds") == "a text no catalogue holds"
    assert "zh_CN" in i18n.available_languages()


def test_choose_language_follows_the_variable_then_the_locale(monkeypatch):
    monkeypatch.delenv("LLAMADESK_LANG", raising=False)
    for variable in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.choose_language() == "zh_CN"
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert i18n.choose_language() == "en"
    monkeypatch.setenv("LLAMADESK_LANG", "zh-SG")
    assert i18n.choose_language() == "zh_CN"
    assert i18n.choose_language("en") == "en"
    assert i18n.choose_language("de_DE") == "en"


def test_a_real_error_speaks_the_chosen_language():
    from llamadesk.core import adapters, library
    from llamadesk.core.errors import Cancelled, NotFoundError

    with pytest.raises(NotFoundError, match="^There is no adapter 'nope' in the library.$"):
        adapters.get_adapter("nope")
    i18n.set_language("zh_CN")
    with pytest.raises(NotFoundError) as raised:
        adapters.get_adapter("nope")
    assert str(raised.value) == "模型库中没有适配器“nope”。"
    with pytest.raises(NotFoundError, match="^模型库中没有模型“nope”。$"):
        library.get_model("nope")
    assert str(Cancelled()) == _catalogue()["Cancelled; nothing was changed."]


def test_progress_texts_are_translated(tiny_model_dir):
    from llamadesk.core.formats.hf import weights_sha256
    from llamadesk.core.progress import Progress

    seen = set()
    i18n.set_language("zh_CN")
    weights_sha256(tiny_model_dir, Progress(lambda fraction, text: seen.add(text)))
    assert seen == {_catalogue()["Hashing weights"]}


def test_cli_prints_the_chinese_sentence(capsys, monkeypatch):
    from llamadesk.cli import main

    monkeypatch.setenv("LLAMADESK_LANG", "zh_CN")
    assert main(["runs", "show", "nope"]) == 2
    expected = _catalogue()["There is no training run '{run_id}'; `llamadesk runs list` shows them."]
    assert capsys.readouterr().err == "llamadesk: " + expected.format(run_id="nope") + "\n"
    monkeypatch.setenv("LLAMADESK_LANG", "en")
    assert main(["runs", "show", "nope"]) == 2
    assert "There is no training run 'nope'" in capsys.readouterr().err


def test_the_window_sets_the_language_of_core_messages(qapp):
    from llamadesk.ui.translations import install_translator

    try:
        assert install_translator(qapp, "zh_CN") == "zh_CN"
        assert i18n.language() == "zh_CN"
    finally:
        assert install_translator(qapp, "en") == "en"
    assert i18n.language() == "en"


def test_the_training_process_is_started_in_the_window_language(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from llamadesk.ui import train_process

    started = {}

    def fake_popen(command, **options):
        started.update(options)
        return SimpleNamespace(pid=-12345)

    monkeypatch.setattr(train_process.runs, "get_run", lambda run_id: SimpleNamespace(folder=tmp_path))
    monkeypatch.setattr(train_process.subprocess, "Popen", fake_popen)
    monkeypatch.setenv("LLAMADESK_LANG", "en")
    i18n.set_language("zh_CN")
    try:
        train_process.launch_runner("some-run")
    finally:
        train_process._launched.pop(-12345, None)
    assert started["env"]["LLAMADESK_LANG"] == "zh_CN"
