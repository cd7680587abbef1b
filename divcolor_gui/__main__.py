"""`python -m divcolor_gui` is `divcolor`."""

from divcolor_gui.cli import main

raise SystemExit(main())
