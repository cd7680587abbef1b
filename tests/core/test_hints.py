"""Colour hints (core/hints.py): the latent solve, the local correction, parsing, sidecars,
and `divcolor colorize --hint/--hints`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from divcolor_gui import cli
from divcolor_gui.core.checkpoint import ModelBundle, save_model
from divcolor_gui.core.colorizer import Colorizer
from divcolor_gui.core.hints import (
    Hint,
    HintError,
    HintSolver,
    cell_weights,
    check_hints,
    hints_from_json,
    load_hints,
    make_hint,
    parse_hint,
    sample_field,
    save_hints,
    sidecar_path,
)
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from divcolor_gui.core.nets.mdn import MDN, MDN_PRESETS
from divcolor_gui.core.nets.vae import VAE, VAE_PRESETS
from divcolor_gui.core.photo import Photo

RED = "#cc2222"


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    nets = {
        "features": ColorNet(COLORNET_PRESETS["tiny"]).eval(),
        "vae": VAE(VAE_PRESETS["tiny"]).eval(),
        "mdn": MDN(MDN_PRESETS["tiny"]).eval(),
    }
    return Colorizer(ModelBundle(nets=nets, meta={"name": "tiny"}), torch.device("cpu"))


def _two_halves(dark: float = 25.0, bright: float = 85.0, size: int = 96) -> Photo:
    """A photo whose left half is dark and right half bright: one vertical edge at x = size / 2."""
    L = torch.full((size, size), dark)
    L[:, size // 2 :] = bright
    rgb = np.repeat((L.numpy() * 2.55).astype(np.uint8)[..., None], 3, axis=2)
    return Photo(path=None, L=L, rgb=rgb, is_colour=False, source_mode="L")


def test_without_hints_the_modes_are_the_means_by_weight(colorizer):
    a = colorizer.analyze(_two_halves())
    modes = HintSolver(colorizer, a).solve([])
    assert [m.component for m in modes] == list(range(len(a.weights)))
    assert torch.equal(torch.stack([m.z for m in modes]), a.means)
    assert torch.allclose(modes[0].field, colorizer.decode(a.means[:1], a, exact=True)[0])


def test_a_hint_is_met_at_its_point_and_stops_at_an_edge(colorizer):
    photo = _two_halves()
    a = colorizer.analyze(photo)
    hint = make_hint(40, 48, RED, radius=20)  # left of the edge at x = 48, wide enough to reach across
    best = HintSolver(colorizer, a).solve([hint])[0]
    target = hint.target_ab()
    idx, wts = cell_weights([hint], 96, 96)
    assert torch.allclose(sample_field(best.field, idx, wts)[0], target, atol=0.01)
    assert best.error < 0.01 <= best.latent_error  # the local correction did the rest
    change = (best.field - best.decoded).norm(dim=0)  # (64, 64)
    row = 32  # the hint's row of the field
    at_hint = change[row, 26].item()
    same_side = change[row, 18].item()  # 12 px left of the hint, same lightness
    across = change[row, 35].item()  # 12 px right of the hint, across the edge
    assert same_side > 0.3 * at_hint
    assert across < 0.05 * at_hint


def test_the_prior_keeps_z_near_its_component(colorizer):
    a = colorizer.analyze(_two_halves())
    hints = [make_hint(20, 20, RED), make_hint(70, 70, "#2255cc")]
    loose = HintSolver(colorizer, a, noise=1e4).solve(hints)  # hints barely count against the prior
    for m in loose:
        assert torch.allclose(m.z, a.means[m.component], atol=1e-3)
    tight = HintSolver(colorizer, a).solve(hints)
    moved = torch.stack([(m.z - a.means[m.component]).norm() for m in tight])
    assert moved.max() > 1e-3 and torch.isfinite(moved).all()
    assert [m.objective for m in tight] == sorted(m.objective for m in tight)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10,20", "expected X,Y,#RRGGBB"),
        ("10,20,red", "colour must be #RRGGBB"),
        ("ten,20,#aabbcc", "x and y must be numbers"),
        ("10,20,#aabbcc,-3", "radius must be above 0"),
        ("nan,20,#aabbcc", "finite"),
    ],
)
def test_bad_hints_are_refused_naming_the_hint(text, message):
    with pytest.raises(HintError, match=message) as err:
        parse_hint(text)
    assert text in str(err.value) and "\n" not in str(err.value)


def test_hints_outside_the_photo_and_bad_files_are_refused(tmp_path):
    with pytest.raises(HintError, match=r"hint 2 .*outside the 96x64 photo"):
        check_hints([make_hint(5, 5, RED), make_hint(96, 10, RED)], 96, 64)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HintError, match="bad.json: not valid JSON"):
        load_hints(bad)
    with pytest.raises(HintError, match="hint 2: needs x, y and color"):
        hints_from_json({"hints": [{"x": 1, "y": 2, "color": RED}, {"x": 3, "color": RED}]})
    with pytest.raises(HintError, match="expected"):
        hints_from_json([1, 2])


def test_the_sidecar_round_trips(tmp_path):
    hints = [make_hint(120, 40, "#3366CC", radius=6), make_hint(3.5, 7, RED)]
    path = save_hints(sidecar_path(tmp_path / "old photo.jpg"), hints)
    assert path.name == "old photo.hints.json"
    assert json.loads(path.read_text())["hints"][1] == {"x": 3.5, "y": 7.0, "color": RED}
    assert load_hints(path) == hints == [Hint(120.0, 40.0, "#3366cc", 6.0), Hint(3.5, 7.0, RED)]


def test_colorize_follows_hints_and_refuses_bad_ones(colorizer, tmp_path, capsys):
    model = tmp_path / "tiny.pt"
    save_model(colorizer.bundle, model)
    photo = tmp_path / "halves.png"
    Image.fromarray(_two_halves().rgb).save(photo)
    out = tmp_path / "out"
    args = ["colorize", str(photo), "-k", "2", "-o", str(out), "--model", str(model), "--device", "cpu"]
    assert cli.main([*args, "--hint", f"40,48,{RED},20"]) == 0
    assert load_hints(out / "halves.hints.json") == [make_hint(40, 48, RED, 20)]
    hinted = np.asarray(Image.open(out / "halves_mode1.png")).astype(int)
    assert hinted[48, 40, 0] - hinted[48, 40, 2] > 40  # red where the hint is
    capsys.readouterr()
    assert cli.main([*args, "--force", "--hint", f"400,48,{RED}"]) == 1
    assert "outside the 96x96 photo" in capsys.readouterr().err
    (tmp_path / "h.json").write_text('{"hints": [{"x": 1, "y": 2, "color": "blue"}]}')
    assert cli.main([*args, "--force", "--hints", str(tmp_path / "h.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "hint 1: colour must be #RRGGBB" in err and len(err.splitlines()) == 1


def test_eval_hints_refuses_counts_that_are_not_whole_numbers(tmp_path, capsys):
    for bad in ("1,x", "-3", "5000"):
        assert cli.main(["eval", "--data", str(tmp_path), "--hints", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--hints {bad}: give whole numbers" in err and len(err.splitlines()) == 1
