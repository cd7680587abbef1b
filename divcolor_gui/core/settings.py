"""The app's settings: packaged defaults, then the user's JSON, then command-line overrides.

One function, `merge_settings`, merges those layers and rejects unknown keys and wrong types,
so a typo in the user's file is reported instead of silently ignored. Window geometry is the
only thing kept in QSettings (see app/main_window.py); everything here is Qt-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from divcolor_gui.core.output_paths import write_json
from divcolor_gui.core.resources import DEFAULT_MODEL, user_config_dir
from divcolor_gui.core.vocabulary import DEVICE_CHOICES

# The packaged defaults; every key a user file may set is listed here.
DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_MODEL,  # a model name (see `divcolor models`) or a .pt path
    "device": DEVICE_CHOICES[0],  # auto | cpu | cuda
    "recent_files": [],  # most recent first
    "max_recent": 10,
    "last_open_dir": "",
    "last_export_dir": "",
    "export_format": "png",  # png | jpg | tif, for "Export all top-k"
    "export_top_k": 5,
    "jpeg_quality": 95,
    "preview_max_side": 1024,  # live previews never exceed this, whatever the screen
    "thumb_side": 128,
    "samples": 6,  # how many "More like this" samples
    "sample_scale": 1.0,  # times the component's own standard deviation
}

CHOICES: dict[str, tuple[str, ...]] = {
    "device": DEVICE_CHOICES,
    "export_format": ("png", "jpg", "tif"),
}

SETTINGS_FILE = "settings.json"


class SettingsError(ValueError):
    """A settings file or override that cannot be used; str() is one line."""


def _check(key: str, value: Any, source: str) -> Any:
    default = DEFAULTS[key]
    # bool is an int in Python; keep them apart so "max_recent": true is rejected.
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SettingsError(
            f"{source}: {key!r} should be {type(default).__name__}, not {type(value).__name__} ({value!r})"
        )
    if key in CHOICES and value not in CHOICES[key]:
        raise SettingsError(f"{source}: {key!r} is {value!r}; choose from {', '.join(CHOICES[key])}")
    if isinstance(value, list):
        value = list(value)
    return value


def merge_settings(*layers: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Defaults, then each (source name, values) layer in order; later layers win.

    Raises SettingsError naming the source for an unknown key or a value of the wrong type.
    """
    merged = {k: (list(v) if isinstance(v, list) else v) for k, v in DEFAULTS.items()}
    for source, values in layers:
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: expected a JSON object of settings")
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            raise SettingsError(
                f"{source}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(DEFAULTS)}"
            )
        for key, value in values.items():
            merged[key] = _check(key, value, source)
    return merged


def user_settings_path() -> Path:
    return user_config_dir() / SETTINGS_FILE


def read_user_settings(path: Path) -> dict[str, Any]:
    """The user's layer as written, or {} when there is no file yet."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: cannot be read ({e})") from e
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from e


class Settings:
    """The merged settings, and the user's layer that `set` changes and `save` writes.

    Command-line overrides apply to this session only: they are not saved unless the user
    picks a value themselves. When the user's file is broken the app runs on defaults and
    does not save, so the user's file is never clobbered (`problem` says what was wrong).
    """

    def __init__(
        self,
        path: Path | None = None,
        overrides: dict[str, Any] | None = None,
        persist: bool = True,
    ):
        self.path = path if path is not None else user_settings_path()
        self.persist = persist
        self.problem: str | None = None
        try:
            self._user = read_user_settings(self.path) if persist else {}
            merge_settings((str(self.path), self._user))
        except SettingsError as e:
            self.problem = str(e)
            self._user = {}
            self.persist = False
        self._overrides = dict(overrides or {})
        self._values = merge_settings((str(self.path), self._user), ("command line", self._overrides))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set a user choice and save it (when saving is on)."""
        merge_settings(("setting", {key: value}))  # validates
        self._user[key] = value
        self._overrides.pop(key, None)
        self._values = merge_settings((str(self.path), self._user), ("command line", self._overrides))
        self.save()

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        recent = [r for r in self["recent_files"] if r != p]
        self.set("recent_files", [p, *recent][: self["max_recent"]])

    def remove_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.set("recent_files", [r for r in self["recent_files"] if r != p])

    def save(self) -> None:
        if not self.persist:
            return
        write_json(self.path, self._user, sort_keys=True)  # never half a settings file
