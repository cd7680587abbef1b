"""The PySide6 app, and only Qt code: everything Qt lives under this package, the core and
the trainer stay Qt-free.

    main.py, application.py   starting the app; the QApplication
    main_window.py            the window, wiring the two tabs together
    worker.py, tasks.py       the one worker pattern for everything slow
    images.py                 numpy <-> QImage / QPixmap
    colorize/                 the Colorize tab and the panels only it uses
    trainer/                  the Trainer tab and its panels
    widgets/                  reusable widgets, one per file; they import no tab
"""
