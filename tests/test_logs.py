"""The log file: where library warnings go instead of the user's terminal."""

import logging
import warnings

from llamadesk.core.logs import setup_logging


def test_library_warnings_go_to_the_log_not_the_terminal(home, capsys):
    # As in a fresh process: pytest swaps warnings.showwarning per test, so an earlier test's capture
    # would look in place to logging while it is not.
    logging.captureWarnings(False)
    log_file = setup_logging()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("`old_name` is deprecated", FutureWarning, stacklevel=1)
    assert capsys.readouterr().err == ""
    assert "FutureWarning: `old_name` is deprecated" in log_file.read_text(encoding="utf-8")
