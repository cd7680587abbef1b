"""Where divcolor is asked to write, checked before any work starts.

A training run or a batch of colorizations that fails only when it first saves has
wasted the user's time; these checks say in one line why a place cannot be written,
without creating anything (a folder is made only when there is something to put in it);
and `atomic_path`, through which every file divcolor writes is written whole or not at all.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputPathError(ValueError):
    """A place that cannot be written; str() is one line naming the path and the reason."""


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists ("." for a relative path)."""
    p = path
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _check_creatable(path: Path) -> None:
    """`path` does not exist: its nearest existing ancestor must be a writable folder."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputPathError(f"{path}: cannot be created, {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: cannot be created, {base} is not writable")


def check_output_dir(path: str | Path) -> None:
    """A folder to write into: an existing, writable folder, or one that can be made."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{path}: is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{path}: the folder is not writable")
        return
    _check_creatable(path)


def check_output_file(path: str | Path) -> None:
    """A file to (re)write atomically: not a folder, and its folder writable or makeable
    (a temporary file is written beside it, then renamed)."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder, not a file")
    if path.exists():
        check_output_dir(path.parent)  # the temporary file is written beside it
    else:
        _check_creatable(path)


def os_error_line(e: OSError) -> str:
    """One line for an OSError: the path it names and the reason, without errno noise."""
    where = e.filename if e.filename is not None else ""
    why = e.strerror or str(e)
    return f"{where}: {why}" if where else why


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import: setting it to read it, later, could race a training thread's files.
_UMASK = _read_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Every file divcolor writes is written through this: a temporary name beside `path`
    to write to, renamed over `path` once the writing has succeeded, so that a full disk,
    a crash or Ctrl-C mid-write leaves the previous file (or none), never half of one. The
    temporary ends in `path`'s suffix, from which PIL picks the format; `temporaries`
    finds those a killed process left."""
    path = Path(path)
    try:
        # The checks above pass a folder that can be made; it is made once there is a file for it.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as e:  # no such folder, not writable: said of the user's file
        e.filename = str(path)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make the file private
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename == str(tmp):
            e.filename = str(path)  # the user's error line names their file, not our temporary
        raise


def write_json(path: str | Path, obj, indent: int | None = 2, **dumps) -> None:
    """obj as JSON (UTF-8, a final newline) through atomic_path: an earlier file stays whole
    if this write fails."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, **dumps) + "\n", encoding="utf-8")


def temporaries(path: str | Path) -> list[Path]:
    """atomic_path's temporaries for `path` left behind by a process killed mid-write."""
    path = Path(path)
    # Escaped: "m[1].pt" is a name, not a pattern.
    pattern = f".{glob.escape(path.name)}.*.tmp{glob.escape(path.suffix)}"
    return sorted(path.parent.glob(pattern)) if path.parent.is_dir() else []
