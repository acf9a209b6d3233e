"""The user's preferences: one QSettings-backed store with typed getters and setters and their defaults.

Preferences live in an INI file in the platform's config folder (Linux: ~/.config/LlamaDesk/), apart
from the data folder, because one of them says where the data folder is (that one is core's, in a
file beside this one, so the CLI reads it too). LLAMADESK_SETTINGS names
another file; the tests point it at a temporary one so they never read or change the user's own.
Everything else the app keeps (models, chats, runs) lives in the data folder."""

import json
import logging
from pathlib import Path

from PySide6.QtCore import QSettings

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.paths import choose_data_folder, chosen_data_folder, settings_file
from llamadesk.core.runtime import RuntimeOptions

log = logging.getLogger("llamadesk.ui")

THEMES = ("system", "light", "dark")
SYSTEM_LANGUAGE = ""  # follow the system locale


class AppSettings:
    """Typed access to the preferences. Cheap to create: make one where it is needed, so a test's
    redirected file (or a change made by the Settings dialog) is always what is read."""

    def __init__(self, path: Path | None = None) -> None:
        self._store = QSettings(str(path or settings_file()), QSettings.Format.IniFormat)

    def sync(self) -> None:
        """Write pending changes to disk now (QSettings otherwise writes them a little later)."""
        self._store.sync()

    def _text(self, key: str, default: str = "") -> str:
        return str(self._store.value(key, default) or default)

    # -- data -------------------------------------------------------------------------------------

    @property
    def data_folder(self) -> str:
        """Where models, chats and runs live; empty means the platform's data folder. Kept by core
        (core.paths), where the CLI and training runs read it too; applied at the next start."""
        return chosen_data_folder()

    @data_folder.setter
    def data_folder(self, folder: str) -> None:
        choose_data_folder(folder)

    def move_legacy_data_folder(self) -> None:
        """A data folder that an earlier version kept among these preferences moves to core's file."""
        legacy = self._text("data/folder")
        if legacy:
            if not chosen_data_folder():
                choose_data_folder(legacy)
            self._store.remove("data/folder")

    @property
    def default_model(self) -> str:
        """The model Chat opens with; empty means the latest conversation's, else the starter."""
        return self._text("chat/default_model")

    @default_model.setter
    def default_model(self, model_id: str) -> None:
        self._store.setValue("chat/default_model", model_id)

    @property
    def last_conversation(self) -> int | None:
        """The conversation on screen when the app last closed, opened again at the next start."""
        try:
            value = int(self._store.value("chat/last_conversation", 0))
        except (TypeError, ValueError):
            return None
        return value or None

    @last_conversation.setter
    def last_conversation(self, conversation_id: int | None) -> None:
        self._store.setValue("chat/last_conversation", conversation_id or 0)

    @property
    def last_adapter(self) -> str:
        """The adapter chosen in Chat when the app last closed (empty: the base model); chosen again
        once its model is loaded, where the adapter still belongs to it."""
        return self._text("chat/last_adapter")

    @last_adapter.setter
    def last_adapter(self, adapter_id: str | None) -> None:
        self._store.setValue("chat/last_adapter", adapter_id or "")

    @property
    def sampling(self) -> GenerationSettings:
        """The sampling settings a new conversation starts with."""
        stored = self._text("chat/sampling")
        if not stored:
            return GenerationSettings()
        try:
            return GenerationSettings.from_json(json.loads(stored))
        except (ValueError, LlamaDeskError) as exc:
            # A hand-edited or damaged file must not keep the app from opening.
            log.warning("ignoring stored sampling settings (%s): %s", exc, stored)
            return GenerationSettings()

    @sampling.setter
    def sampling(self, settings: GenerationSettings) -> None:
        self._store.setValue("chat/sampling", json.dumps(settings.to_json()))

    # -- runtime ----------------------------------------------------------------------------------

    @property
    def runtime_options(self) -> RuntimeOptions:
        """Device, dtype and CPU threads for every model this process loads."""
        try:
            return RuntimeOptions(
                device=self._text("runtime/device", "auto"),
                dtype=self._text("runtime/dtype", "auto"),
                threads=int(self._store.value("runtime/threads", 0)),
            )
        except (ValueError, TypeError, LlamaDeskError) as exc:
            log.warning("ignoring stored runtime options: %s", exc)
            return RuntimeOptions()

    @runtime_options.setter
    def runtime_options(self, options: RuntimeOptions) -> None:
        self._store.setValue("runtime/device", options.device)
        self._store.setValue("runtime/dtype", options.dtype)
        self._store.setValue("runtime/threads", options.threads)

    # -- appearance -------------------------------------------------------------------------------

    @property
    def theme(self) -> str:
        """ "system", "light" or "dark"."""
        theme = self._text("appearance/theme", "system")
        return theme if theme in THEMES else "system"

    @theme.setter
    def theme(self, theme: str) -> None:
        if theme not in THEMES:
            raise ValueError(f"unknown theme {theme!r}")
        self._store.setValue("appearance/theme", theme)

    @property
    def language(self) -> str:
        """A catalogue name such as "zh_CN", "en", or empty for the system's language."""
        return self._text("appearance/language", SYSTEM_LANGUAGE)

    @language.setter
    def language(self, language: str) -> None:
        self._store.setValue("appearance/language", language)

    # -- first run --------------------------------------------------------------------------------

    @property
    def welcome_shown(self) -> bool:
        return self._store.value("guide/welcome_shown", False, type=bool)

    @welcome_shown.setter
    def welcome_shown(self, shown: bool) -> None:
        self._store.setValue("guide/welcome_shown", shown)

    # -- local server -----------------------------------------------------------------------------

    @property
    def server_port(self) -> int:
        """The port the window's local server listens on (the CLI's default too)."""
        from llamadesk.core.serving.server import DEFAULT_PORT

        try:
            return int(self._store.value("server/port", DEFAULT_PORT))
        except (TypeError, ValueError):
            return DEFAULT_PORT

    @server_port.setter
    def server_port(self, port: int) -> None:
        self._store.setValue("server/port", int(port))
