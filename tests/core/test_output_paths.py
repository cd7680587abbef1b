"""Output locations are checked before any work, in one line, and nothing is created."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from divcolor_gui.core.output_paths import (
    OutputPathError,
    atomic_path,
    check_output_dir,
    check_output_file,
    os_error_line,
)


def test_a_file_where_a_folder_is_wanted(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputPathError, match=r"afile: is a file, not a folder$"):
        check_output_dir(tmp_path / "afile")
    with pytest.raises(OutputPathError, match=r"afile/sub: cannot be created, .*afile is a file"):
        check_output_dir(tmp_path / "afile" / "sub")
    with pytest.raises(OutputPathError, match=r"m\.pt: cannot be created, .*afile is a file"):
        check_output_file(tmp_path / "afile" / "m.pt")


def test_a_folder_where_a_file_is_wanted(tmp_path):
    with pytest.raises(OutputPathError, match="is a folder, not a file"):
        check_output_file(tmp_path)


def test_places_that_can_be_made_are_accepted_and_not_made(tmp_path):
    check_output_dir(tmp_path / "a" / "b")
    check_output_file(tmp_path / "c" / "m.pt")
    check_output_file(tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder(tmp_path, monkeypatch):
    # As root every folder is writable, so the permission test asks os.access directly.
    monkeypatch.setattr("divcolor_gui.core.output_paths.os.access", lambda p, mode: False)
    with pytest.raises(OutputPathError, match="not writable"):
        check_output_dir(tmp_path)
    with pytest.raises(OutputPathError, match=r"new: cannot be created, .* is not writable"):
        check_output_dir(tmp_path / "new")


def test_an_os_error_is_one_line_with_its_path():
    e = OSError(errno.ENOSPC, "No space left on device", "/mnt/photos/out.png")
    assert os_error_line(e) == "/mnt/photos/out.png: No space left on device"
    assert os_error_line(OSError("plain")) == "plain"


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    out = tmp_path / "result.png"
    out.write_bytes(b"the user's earlier export")
    with pytest.raises(KeyboardInterrupt), atomic_path(out) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"  # PIL picks the format by it
        tmp.write_bytes(b"half of a")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"the user's earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_an_os_error_while_writing_names_the_users_file_not_the_temporary(tmp_path):
    out = tmp_path / "result.png"
    with pytest.raises(OSError) as err, atomic_path(out) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert os_error_line(err.value) == f"{out}: No space left on device"


def test_a_missing_folder_is_made_and_one_that_cannot_be_is_said_of_the_users_file(tmp_path):
    """check_output_file accepts a folder that can be made (`eval --json new/x.json`): the
    write makes it, rather than failing after the minutes of work before it."""
    out = tmp_path / "new" / "sub" / "result.json"
    with atomic_path(out) as tmp:
        tmp.write_text("{}")
    assert out.read_text() == "{}"
    (tmp_path / "a file").write_text("")
    bad = tmp_path / "a file" / "result.png"
    with pytest.raises(OSError) as err, atomic_path(bad):
        pass
    assert os_error_line(err.value).startswith(f"{bad}: ")


def test_an_export_that_fails_keeps_the_file_it_would_replace(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from divcolor_gui.core.jobs import save_image

    out = tmp_path / "photo_colorized.jpg"
    out.write_bytes(b"the user's earlier export")

    def full(self, fp, *a, **k):
        Path(fp).write_bytes(b"\xff\xd8 half a JPEG")
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(OSError):
        save_image(out, np.zeros((20, 30, 3), np.uint8))
    assert out.read_bytes() == b"the user's earlier export" and len(list(tmp_path.iterdir())) == 1
