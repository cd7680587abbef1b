"""Fixtures for the core's tests (no Qt here)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """The user's folders (settings, models) in a throwaway place."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
