"""The interface language. Only the .ts catalogue is kept in git (a reviewable text file); the binary
.qm that Qt loads is compiled from it with PySide6's lrelease on first use and cached by content, so a
source checkout and an installed wheel behave the same and a stale .qm is never shown."""

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
from PySide6.QtGui import QFontDatabase, QGuiApplication

from llamadesk.core import i18n
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.paths import data_home
from llamadesk.core.resources import resource

log = logging.getLogger("llamadesk.ui")

CATALOGUES = resource("translations")
ENGLISH = "en"

# Han characters are drawn differently in Simplified Chinese, Traditional Chinese and Japanese
# (直, 骨, 关...). Fontconfig picks the fallback for them without regard to the interface language
# (Noto Sans CJK JP on a Debian desktop, even with LANG=zh_CN), so a Chinese interface names the
# fonts with its own forms, first found first, behind the interface font.
HAN_FAMILIES = {
    "zh_CN": (
        "Noto Sans CJK SC",
        "Source Han Sans SC",
        "PingFang SC",
        "Microsoft YaHei UI",
        "Microsoft YaHei",
        "WenQuanYi Micro Hei",
    ),
}

# Kept so they stay alive (Qt does not own them) and so a second call replaces rather than stacks them.
_installed: list[QTranslator] = []


def available_languages() -> list[str]:
    """The source language plus every shipped catalogue, e.g. ["en", "zh_CN"]."""
    return [ENGLISH] + sorted(p.stem.removeprefix("llamadesk_") for p in CATALOGUES.glob("llamadesk_*.ts"))


def choose_language(requested: str | None = None) -> str:
    """LLAMADESK_LANG (or `requested`) wins over the system locale; a language without a catalogue,
    or a region without its own (zh_SG), falls back to the same language, then to English."""
    wanted = requested or os.environ.get(i18n.LANGUAGE_VARIABLE) or QLocale.system().name()
    return i18n.match_language(wanted, available_languages())


def _lrelease() -> list[str] | None:
    """The lrelease shipped inside the PySide6 wheel, else the pyside6-lrelease wrapper."""
    import PySide6

    for name in ("lrelease", "lrelease.exe"):
        binary = Path(PySide6.__file__).parent / name
        if binary.is_file():
            return [str(binary)]
    beside_python = Path(sys.executable).parent / "pyside6-lrelease"
    wrapper = shutil.which("pyside6-lrelease") or (str(beside_python) if beside_python.exists() else None)
    return [wrapper] if wrapper else None


def compiled_catalogue(language: str) -> Path | None:
    """The .qm for `language`: one shipped beside the .ts, else compiled into the data folder's cache
    under a name that carries the .ts's hash. None (and a log line) if it cannot be had."""
    source = CATALOGUES / f"llamadesk_{language}.ts"
    if not source.is_file():
        return None
    shipped = source.with_suffix(".qm")
    if shipped.is_file() and shipped.stat().st_mtime >= source.stat().st_mtime:
        return shipped
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    try:
        target = data_home() / "cache" / "translations" / f"llamadesk_{language}-{digest}.qm"
    except LlamaDeskError as exc:  # run_app says so in a dialog; in English, then
        log.warning("%s; the interface stays in English", exc)
        return None
    if target.is_file():
        return target
    tool = _lrelease()
    if tool is None:
        log.warning("no lrelease found; the interface stays in English")
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.qm")
    try:
        subprocess.run(
            [*tool, "-silent", str(source), "-qm", str(partial)], check=True, capture_output=True, timeout=60
        )
        os.replace(partial, target)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not compile %s: %s; the interface stays in English", source.name, exc)
        partial.unlink(missing_ok=True)
        return None
    return target


def install_translator(app: QCoreApplication, language: str | None = None) -> str:
    """Install LlamaDesk's catalogue and Qt's own (standard buttons such as Yes/No) for the chosen
    language, replacing any installed before; returns the language in effect."""
    for translator in _installed:
        app.removeTranslator(translator)
    _installed.clear()
    chosen = choose_language(language)
    _use_han_forms(app, chosen)
    i18n.set_language(ENGLISH)  # core's messages (errors, progress) follow the catalogue installed below
    if chosen == ENGLISH:
        return ENGLISH
    catalogue = compiled_catalogue(chosen)
    ours = QTranslator(app)
    if catalogue is None or not ours.load(str(catalogue)):
        return ENGLISH
    qt_base = QTranslator(app)
    if qt_base.load(f"qtbase_{chosen}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_base)
        _installed.append(qt_base)
    app.installTranslator(ours)
    _installed.append(ours)
    i18n.set_language(chosen)
    return chosen


def _use_han_forms(app: QCoreApplication, language: str) -> None:
    if not isinstance(app, QGuiApplication):
        return
    installed = set(QFontDatabase.families())
    font = app.font()
    font.setFamilies([font.family(), *(f for f in HAN_FAMILIES.get(language, ()) if f in installed)])
    app.setFont(font)
