"""Settings: defaults, then the user's JSON, then the command line; unknown keys rejected."""

from __future__ import annotations

import json

import pytest

from divcolor_gui.core.settings import DEFAULTS, Settings, SettingsError, merge_settings


def test_layers_merge_in_order():
    merged = merge_settings(("user", {"device": "cpu", "samples": 3}), ("command line", {"device": "cuda"}))
    assert merged["device"] == "cuda" and merged["samples"] == 3
    assert merged["model"] == DEFAULTS["model"]


@pytest.mark.parametrize(
    "layer, words",
    [
        ({"devcie": "cpu"}, ["unknown setting", "'devcie'", "user"]),
        ({"samples": "6"}, ["'samples'", "int", "str"]),
        ({"max_recent": True}, ["'max_recent'", "bool"]),
        ({"device": "gpu"}, ["'device'", "auto, cpu, cuda"]),
        ({"recent_files": "a.jpg"}, ["'recent_files'", "list"]),
    ],
)
def test_bad_values_are_rejected_naming_the_key(layer, words):
    with pytest.raises(SettingsError) as e:
        merge_settings(("user", layer))
    for w in words:
        assert w in str(e.value)


def test_int_is_accepted_where_a_float_is_expected():
    assert merge_settings(("user", {"sample_scale": 2}))["sample_scale"] == 2.0


def test_user_choices_are_saved_and_overrides_are_not(home):
    s = Settings(overrides={"device": "cpu"})
    assert s["device"] == "cpu"
    s.set("samples", 4)
    saved = json.loads((home / "config" / "settings.json").read_text())
    assert saved == {"samples": 4}  # the command line's device is for this session only
    again = Settings()
    assert again["samples"] == 4 and again["device"] == "auto"


def test_recent_files_are_most_recent_first_and_bounded(home, tmp_path):
    s = Settings()
    s.set("max_recent", 3)
    for name in "abcda":
        s.add_recent(tmp_path / f"{name}.jpg")
    assert [p.rsplit("/", 1)[-1] for p in s["recent_files"]] == ["a.jpg", "d.jpg", "c.jpg"]


@pytest.mark.parametrize("text", ['{"devcie": "cpu"}', "{not json", "[1, 2]"])
def test_a_broken_user_file_gives_defaults_and_is_never_overwritten(home, text):
    path = home / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    s = Settings()
    assert s.problem and str(path) in s.problem
    assert s["device"] == "auto"
    s.set("device", "cpu")
    assert s["device"] == "cpu" and path.read_text() == text


def test_a_bad_override_is_an_error(home):
    with pytest.raises(SettingsError, match="command line"):
        Settings(overrides={"device": "tpu"})
