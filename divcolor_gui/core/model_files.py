"""The user's model files: a model is `<name>.pt` with its card `<name>.md` and, while
it can still be resumed, `<name>.resume.pt`; they are renamed and deleted together.
Qt-free, so the rules are tested without a window."""

from __future__ import annotations

import re
from pathlib import Path

from divcolor_gui.core.resources import MODEL_SUFFIX, card_path, model_files, resume_path, user_models_dir

# Letters, digits, spaces, dots, dashes and underscores: safe as a file name on every
# system, and ".resume" is reserved for the sidecar.
_NAME = re.compile(r"^[\w][\w .\-]{0,63}$")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a model file, or None if it can."""
    name = name.strip()
    if not name:
        return "type a name for the model"
    if not _NAME.match(name):
        return "use letters, digits, spaces, dots, dashes or underscores (up to 64)"
    if name.endswith((".resume", ".")) or name.endswith(MODEL_SUFFIX):
        return f"a name cannot end in {name[name.rfind('.') :]!r}"
    return None


def model_path(name: str) -> Path:
    return user_models_dir() / f"{name.strip()}{MODEL_SUFFIX}"


def family(path: Path) -> list[Path]:
    """The model file and the files that belong to it (existing or not)."""
    path = Path(path)
    return [path, card_path(path), resume_path(path)]


def user_models() -> list[Path]:
    return sorted(model_files(user_models_dir()), key=lambda p: p.stem.lower())


def rename_model(path: Path, new_name: str) -> Path:
    """Move the model, its card and its resume state to `new_name`; returns the new path.
    Raises ValueError with a one-line reason when it cannot."""
    problem = name_problem(new_name)
    if problem:
        raise ValueError(problem)
    new = Path(path).with_name(new_name.strip() + MODEL_SUFFIX)
    if new == Path(path):
        return new
    if new.exists():
        raise ValueError(f"a model named {new.stem!r} exists already")
    for old, dst in zip(family(path), family(new)):
        if old.exists():
            old.replace(dst)
    card = card_path(new)
    if card.exists():
        # The card's title is the model's name; the rest describes the training, unchanged.
        lines = card.read_text(encoding="utf-8").splitlines(keepends=True)
        if lines and lines[0].startswith("# "):
            lines[0] = f"# {new.stem}\n"
            card.write_text("".join(lines), encoding="utf-8")
    return new


def delete_model(path: Path) -> None:
    for p in family(path):
        p.unlink(missing_ok=True)
