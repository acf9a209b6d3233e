"""`python -m llamadesk.train SPEC` (and `accelerate launch -m llamadesk.train SPEC` on a cluster):
`llamadesk train --json` under the name a launcher can run, printing one JSON event per line."""

import sys

from llamadesk.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "--json", *sys.argv[1:]]))
