"""One training run per model file.

Two runs writing the same model (and its resume file) would each overwrite the other's
epochs and both report success. A run holds an OS lock on `<model>.lock` for its whole
life; a second run is refused with a line naming the first. The OS releases the lock when
the process ends however it ends (kill -9 included), so a stale file never blocks; a run
that ends normally removes the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path

from .config import TrainingError

if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False


class OutputBusyError(TrainingError):
    """Another run holds the model file."""


def lock_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".lock")


class OutputLock:
    """Held while a run trains `out`; `with OutputLock(out):` or acquire()/release()."""

    def __init__(self, out: Path):
        self.path = lock_path(out)
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise OutputBusyError(
                    f"{self.path.with_suffix('')} is being trained by another run ({_holder(self.path)})"
                )
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder removed it as we opened it: lock the new one
        # Who holds it, for the refusal a second run prints.
        info = {
            "pid": os.getpid(),
            "host": platform.node(),
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # Removed while still held: a run that opened it meanwhile sees it is no longer
            # the file at this path (_same_file) and tries again.
            try:
                self.path.unlink(missing_ok=True)
            except OSError:  # Windows will not remove an open file; the next run reuses it
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return os.path.samestat(st, os.fstat(fd))


def _holder(path: Path) -> str:
    """ "process 1234 on host, since 2026-12-01T18:40:00" from the lock file, as far as it says."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"process {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')}"
