"""The packaged app's entry point: PyInstaller builds `divcolor` from this file (see
divcolor.spec). From source, `divcolor` is divcolor_gui.cli:main and this file is unused."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen app that starts a process (multiprocessing with spawn) re-runs itself; this
    # makes such a child do its job instead of opening the app again.
    multiprocessing.freeze_support()

    from divcolor_gui.frozen import prepare

    prepare()  # before anything can print: a windowed app has no stdout/stderr

    from divcolor_gui.cli import main

    sys.exit(main())
