"""Where user data lives. One root, overridable by LLAMADESK_HOME (tests and CI always set it).

The root is, in order: LLAMADESK_HOME; the folder chosen in the window's Settings (a one-line file
beside the preferences, so the CLI and training runs find the same library as the window); the
platform's user data folder. `pin_data_home` fixes the choice for the process and its children at
start-up, so a change made in Settings meanwhile never moves a running process's data."""

import errno
import os
from pathlib import Path

import platformdirs

from llamadesk.core.errors import ResourceError
from llamadesk.core.i18n import _

APP_NAME = "LlamaDesk"
DATA_FOLDER_FILE = "data-folder.txt"


def settings_file() -> Path:
    """The window's preferences (an INI written through QSettings); LLAMADESK_SETTINGS names another,
    so tests never read or change the user's own."""
    override = os.environ.get("LLAMADESK_SETTINGS")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.ini"


def chosen_data_folder() -> str:
    """The data folder chosen in Settings; "" for the platform's own."""
    try:
        return (settings_file().parent / DATA_FOLDER_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def choose_data_folder(folder: str) -> None:
    """Keep `folder` ("" for the platform's own) for every process started from now on."""
    from llamadesk.core.atomic import write_text

    target = settings_file().parent / DATA_FOLDER_FILE
    if folder:
        write_text(target, folder + "\n")
    else:
        target.unlink(missing_ok=True)


_pinned_home: str | None = None  # the LLAMADESK_HOME that pin_data_home set, if it set one


def pin_data_home() -> None:
    """Fix this process's data folder (and its children's, through the environment) to the one
    chosen in Settings, unless LLAMADESK_HOME already says."""
    global _pinned_home
    chosen = chosen_data_folder()
    if chosen and not os.environ.get("LLAMADESK_HOME"):
        os.environ["LLAMADESK_HOME"] = _pinned_home = chosen


def home_overridden() -> bool:
    """Whether LLAMADESK_HOME was set from outside (a launch script, the tests), so that the folder
    chosen in Settings is ignored; the value pin_data_home put there does not count."""
    home = os.environ.get("LLAMADESK_HOME")
    return bool(home) and home != _pinned_home


def data_home() -> Path:
    override = os.environ.get("LLAMADESK_HOME")
    root = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(root))
    except OSError as exc:  # a chosen folder on a drive that is gone, say, or one not ours to write
        reason = exc.strerror or str(exc)
        if override and override == _pinned_home:  # no window can open to change it: say where it is kept
            message = _(
                "The data folder chosen in Settings, {path}, cannot be used ({reason}); plug in its "
                "drive, or delete {file} to go back to the usual folder."
            ).format(path=root, reason=reason, file=settings_file().parent / DATA_FOLDER_FILE)
        else:
            message = _(
                "The data folder {path} cannot be used ({reason}); set LLAMADESK_HOME to a folder "
                "you can write to."
            ).format(path=root, reason=reason)
        raise ResourceError(message) from exc
    return root


def _sub(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return _sub("models")


def adapters_dir() -> Path:
    return _sub("adapters")


def corpora_dir() -> Path:
    return _sub("corpora")


def runs_dir() -> Path:
    return _sub("runs")


def evals_dir() -> Path:
    return _sub("evals")


def chats_db() -> Path:
    return data_home() / "chats.sqlite3"


def log_dir() -> Path:
    """Logs go beside the data when LLAMADESK_HOME is set, so a test run never writes elsewhere."""
    if os.environ.get("LLAMADESK_HOME"):
        return _sub("logs")
    path = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
