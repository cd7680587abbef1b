"""Output locations are checked before any work, in one line, and nothing is created."""

from __future__ import annotations

import errno

import pytest

from divcolor_gui.core.output_paths import OutputPathError, check_output_dir, check_output_file, os_error_line


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
