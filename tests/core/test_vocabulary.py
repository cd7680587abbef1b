"""The shared words and formats: stage titles, progress times, report times, preview sizes."""

from __future__ import annotations

import pytest
import torch

from divcolor_gui.core.colorizer import fit_L
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS
from divcolor_gui.core.vocabulary import (
    DEFAULT_PRESET,
    FEATURE_PRESETS,
    MDN_LOSS_TEXT,
    MDN_LOSSES,
    PRESETS,
    STAGE_ORDER,
    STAGE_TITLES,
    fit_longer_side,
    format_clock,
    format_duration,
    stage_title,
)


def test_every_stage_loss_and_preset_has_its_words():
    assert STAGE_ORDER == ("features", "vae", "mdn")
    assert set(STAGE_TITLES) == set(STAGE_ORDER)
    assert [stage_title(s) for s in STAGE_ORDER] == ["Feature network", "VAE", "MDN"]
    assert stage_title("cgan") == "cgan"  # a baseline's role is shown as it is
    assert set(MDN_LOSS_TEXT) == set(MDN_LOSSES)
    assert DEFAULT_PRESET in PRESETS
    assert set(FEATURE_PRESETS) == set(COLORNET_PRESETS)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "--:--"),
        (0, "0:00"),
        (7.4, "0:07"),
        (59.4, "0:59"),
        (59.6, "1:00"),  # rounded, not truncated
        (187, "3:07"),
        (3599.4, "59:59"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (36000 + 59, "10:00:59"),
    ],
)
def test_format_clock(seconds, text):
    assert format_clock(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0 s"),
        (4.24, "4.2 s"),
        (10, "10 s"),
        (42.4, "42 s"),
        (59.4, "59 s"),
        (59.6, "1 min 00 s"),  # rounds up into the next unit
        (187, "3 min 07 s"),
        (3599.4, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (7500, "2 h 05 min"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("hw", "max_side", "fitted"),
    [
        ((600, 800), 1024, (600, 800)),  # smaller than max_side: never enlarged
        ((1024, 1024), 1024, (1024, 1024)),  # exactly max_side
        ((3000, 4000), 1024, (768, 1024)),  # landscape
        ((4000, 3000), 1024, (1024, 768)),  # portrait
        ((1, 5000), 1024, (1, 1024)),  # a 1-pixel side stays 1, not 0
        ((5000, 1), 256, (256, 1)),
        ((1, 1), 1024, (1, 1)),
        ((10, 3000), 100, (1, 100)),  # 0.33 px rounds to 0, kept at 1
    ],
)
def test_fit_longer_side(hw, max_side, fitted):
    assert fit_longer_side(*hw, max_side) == fitted
    assert max(fitted) == min(max(hw), max_side)  # the longer side lands on max_side or stays


def test_fit_L_scales_by_the_same_rule_and_keeps_a_small_photo_as_it_is():
    small = torch.rand(60, 80)
    assert fit_L(small, 100) is small
    big = torch.rand(300, 400)
    out = fit_L(big, 100)
    assert tuple(out.shape) == fit_longer_side(300, 400, 100) == (75, 100)
    assert out.mean().item() == pytest.approx(big.mean().item(), abs=1e-4)  # area averaging
