from llamadesk.cli import main

raise SystemExit(main())
