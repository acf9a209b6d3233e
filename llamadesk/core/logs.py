"""A rotating log file in the user log dir: where unexpected errors go, with their tracebacks."""

import logging
import logging.handlers
from pathlib import Path

from llamadesk.core import paths

LOG_NAME = "llamadesk.log"


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file, silent when it cannot be written (a full disk, a folder gone): logging's own
    reaction, a traceback on stderr, would follow the one sentence the user is given."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def setup_logging(level: int = logging.INFO) -> Path:
    """Attach the file handler once per process; return the log file's path."""
    log_file = paths.log_dir() / LOG_NAME
    root = logging.getLogger("llamadesk")
    if not any(getattr(h, "baseFilename", None) == str(log_file) for h in root.handlers):
        handler = _LogFile(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
        # Libraries' deprecation notices (PEFT calling a renamed transformers method, say) are for
        # their developers: in the log they help a bug report, on a user's terminal they are noise.
        logging.captureWarnings(True)
        library_warnings = logging.getLogger("py.warnings")
        library_warnings.addHandler(handler)
        library_warnings.propagate = False
    return log_file
