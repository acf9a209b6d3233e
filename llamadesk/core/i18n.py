"""The language of the core's own messages: errors the user caused, and progress texts.

Every such message is written as an English template, `_("There is no conversation {id}.")`, then
formatted with named fields. `_` looks the template up in the active language's catalogue and falls
back to the English template for anything missing, so an untranslated message still reads well and
never crashes.

The catalogue is a JSON file (`resources/translations/core_<language>.json`, English template ->
translated template with the same `{named}` fields), not Qt's .ts/.qm: core never imports Qt, and
the CLI and the training process must speak the language without a QApplication. Not gettext
either: its .mo files need a compile step and a tool (msgfmt) that neither a source checkout nor an
installed wheel has, while JSON is a reviewable text file that Python reads as it is.

The language is English until someone calls `set_language`: the GUI sets it to the language of its
Qt translator, the CLI to `choose_language()` (LLAMADESK_LANG, else the system locale), the same
rule the GUI follows."""

import json
import locale
import logging
import os
import sys
from functools import cache
from pathlib import Path

from llamadesk.core.resources import resource

log = logging.getLogger("llamadesk")

CATALOGUES = resource("translations")
ENGLISH = "en"
# The environment variable that overrides the system locale, for the GUI, the CLI and the runner.
LANGUAGE_VARIABLE = "LLAMADESK_LANG"

_active = ENGLISH


def catalogue_path(language: str) -> Path:
    return CATALOGUES / f"core_{language}.json"


def available_languages() -> list[str]:
    """English plus every language with a core catalogue, e.g. ["en", "zh_CN"]."""
    return [ENGLISH] + sorted(p.stem.removeprefix("core_") for p in CATALOGUES.glob("core_*.json"))


def match_language(wanted: str, known: list[str]) -> str:
    """The entry of `known` for a locale name such as "zh-CN.UTF-8": the same name, else another
    region of the same language (zh_SG -> zh_CN), else English."""
    wanted = wanted.split(".")[0].split("@")[0].replace("-", "_")
    if wanted in known:
        return wanted
    language = wanted.split("_")[0].lower()
    return next((name for name in known if name.split("_")[0].lower() == language), ENGLISH)


def system_locale() -> str:
    """The user's locale name as the C library would pick it for messages ("zh_CN.UTF-8"), or ""."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(variable):
            return os.environ[variable]
    if sys.platform == "win32":
        import ctypes

        buffer = ctypes.create_unicode_buffer(85)  # LOCALE_NAME_MAX_LENGTH
        if ctypes.windll.kernel32.GetUserDefaultLocaleName(buffer, len(buffer)):
            return buffer.value
    return locale.getlocale()[0] or ""


def choose_language(requested: str | None = None) -> str:
    """`requested`, else LLAMADESK_LANG, else the system locale, matched to a shipped catalogue."""
    wanted = requested or os.environ.get(LANGUAGE_VARIABLE) or system_locale()
    return match_language(wanted, available_languages())


def set_language(language: str) -> str:
    """Make `language` ("en", "zh_CN") the language of core messages from now on; a language without
    a catalogue means English. Returns the language in effect."""
    global _active
    _active = language if language in available_languages() else ENGLISH
    return _active


def language() -> str:
    return _active


@cache
def _catalogue(language: str) -> dict[str, str]:
    """The catalogue of `language`, read once; empty (English throughout) if it cannot be read."""
    try:
        entries = json.loads(catalogue_path(language).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("core messages stay in English: %s cannot be read (%s)", catalogue_path(language), exc)
        return {}
    return {key: value for key, value in entries.items() if isinstance(value, str) and value}


def N_(template: str) -> str:
    """Marks a template kept in a constant (translated later, with `_(constant)`, where it is shown),
    so the catalogue test finds it; returns it unchanged. Named after gettext's marker."""
    return template


def _(template: str) -> str:
    """`template` in the active language; the English template itself where there is no entry."""
    if _active == ENGLISH:
        return template
    return _catalogue(_active).get(template, template)
