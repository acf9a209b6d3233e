"""Where user data lives. One root, overridable by LLAMADESK_HOME (tests and CI always set it)."""

import os
from pathlib import Path

import platformdirs

APP_NAME = "LlamaDesk"


def data_home() -> Path:
    override = os.environ.get("LLAMADESK_HOME")
    root = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
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
