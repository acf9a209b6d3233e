"""The frozen app's entry point: the `llamadesk` command (the GUI with no arguments, a subcommand
otherwise), kept outside the package so PyInstaller does not put llamadesk/ itself on sys.path."""

import multiprocessing
import sys

from llamadesk.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a library's worker process re-enters here, not main()
    sys.exit(main())
