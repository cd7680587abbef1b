"""The user's model files: names, and a model renamed with its card and resume state."""

from __future__ import annotations

import pytest

from divcolor_gui.core.model_files import family, name_problem, rename_model, user_models
from divcolor_gui.core.resources import available_models, user_models_dir


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


def test_a_resume_file_is_not_a_model(home):
    """A run leaves `<name>.resume.pt` beside its model: no picker or `divcolor models` may
    offer it, since it holds optimizer states, not a model (loading it fails)."""
    d = user_models_dir()
    d.mkdir(parents=True)
    for p in family(d / "mine.pt"):
        p.write_text("")
    (d / "other.resume.pt").write_text("")  # a run stopped before its first save of the model
    assert [p.name for p in user_models()] == ["mine.pt"]
    mine = {name: path for name, path in available_models().items() if path.parent == d}
    assert mine == {"mine": d / "mine.pt"}
