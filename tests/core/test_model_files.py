"""The user's model files: names, and a model renamed with its card and resume state."""

from __future__ import annotations

import pytest

from divcolor_gui.core.model_files import family, name_problem, rename_model
from divcolor_gui.core.resources import user_models_dir


def test_model_names_and_files(home):
    assert name_problem("my photos-2.v1") is None
    for bad in ("", "  ", "a/b", "../x", "x.resume", "x.pt", ".hidden"):
        assert name_problem(bad), bad
    d = user_models_dir()
    d.mkdir(parents=True)
    for p in family(d / "a.pt"):
        p.write_text("# a\nbody\n")
    (d / "b.pt").write_text("")
    with pytest.raises(ValueError, match="exists"):
        rename_model(d / "a.pt", "b")
    new = rename_model(d / "a.pt", "c")
    assert [p.name for p in family(new) if p.exists()] == ["c.pt", "c.md", "c.resume.pt"]
    assert (d / "c.md").read_text() == "# c\nbody\n"
