"""`divcolor eval --hints N`: colour hints measured as in Zhang et al. 2017 ("oracle" hints).

On validation photos, N random points of the 64x64 colour field are given their true
colours as hints; the heaviest hinted mode's MAE and the error-of-best of the top k are
reported for each N beside N = 0 (no hints: the plain modes). The photos are the cached
training copies, so the field, the hints and the truth share one 64 x 64 grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from divcolor_gui.core import lab
from divcolor_gui.core.colorizer import Colorizer
from divcolor_gui.core.hints import HintSolver, make_hint
from divcolor_gui.core.photo import Photo
from divcolor_gui.core.vocabulary import SCORED_MODES

from .data import VAL_FRACTION, scan_folder

HINT_COUNTS = (0, 1, 2, 5, 10)


def _photo(rgb8: np.ndarray) -> tuple[Photo, torch.Tensor]:
    """A cached (S, S, 3) uint8 copy -> a Photo and its true (2, 64, 64) ab/128 field."""
    rgb8 = np.array(rgb8)  # a writable copy: the cache's rows are read-only memory maps
    rgb = torch.from_numpy(rgb8).permute(2, 0, 1).float() / 255
    labs = lab.rgb_to_lab(rgb)
    field = torch.nn.functional.interpolate(labs[None, 1:], size=(64, 64), mode="area")[0] / lab.AB_SCALE
    return Photo(None, labs[0], rgb8, True, "RGB"), field


def oracle_hints(rgb8: np.ndarray, n: int, rng: np.random.Generator):
    """n distinct random pixels of the photo with their own colours as hints."""
    H, W = rgb8.shape[:2]
    picks = rng.choice(H * W, size=n, replace=False)
    out = []
    for p in picks:
        y, x = divmod(int(p), W)
        r, g, b = (int(v) for v in rgb8[y, x])
        out.append(make_hint(x, y, f"#{r:02x}{g:02x}{b:02x}"))
    return out


def evaluate_hints(
    colorizer: Colorizer, data_dir: str | Path, counts=HINT_COUNTS, k: int = SCORED_MODES, n_photos: int = 200,
    val_fraction: float = VAL_FRACTION, seed: int = 0,
):  # fmt: skip
    """Generator (yields (done, total)); returns {"counts": {N: {"top1_mae", "eob"}}, ...}
    over the first n_photos validation photos (the solver's set-up costs about a second
    a photo on a 2-core CPU)."""
    data = yield from scan_folder(data_dir, size=max(64, colorizer.grey_size))
    _, val_idx = data.split(val_fraction)
    idx = val_idx[:n_photos]
    if not len(idx):  # the averages below would divide by zero
        raise ValueError(f"{data_dir}: no usable colour photos in the validation split")
    sums = {n: {"top1_mae": 0.0, "eob": 0.0} for n in counts}
    for i, j in enumerate(idx):
        rgb8 = np.asarray(data.images[j])
        photo, truth = _photo(rgb8)
        solver = HintSolver(colorizer, colorizer.analyze(photo))
        L_cells = lab.field_guide(photo.L)[None, None] * 100  # (1, 1, 64, 64)
        rng = np.random.default_rng(seed + int(j))
        for n in counts:
            modes = solver.solve(oracle_hints(rgb8, n, rng) if n else [])
            fields = lab.fit_gamut(torch.stack([m.field for m in modes[:k]]), L_cells)  # as shown
            err = (fields - truth[None]).abs().flatten(1).mean(1)
            sums[n]["top1_mae"] += err[0].item()
            sums[n]["eob"] += err.min().item()
        yield (i + 1, len(idx))
    m = len(idx)
    return {
        "counts": {n: {key: v / m for key, v in s.items()} for n, s in sums.items()},
        "n_images": m, "k": k, "model": colorizer.name, "data": str(Path(data_dir).resolve()),
    }  # fmt: skip


def format_hint_report(r: dict) -> str:
    base = r["counts"][0]["top1_mae"] if 0 in r["counts"] else None
    lines = [
        f"{r['model']}: oracle hints on {r['data']} ({r['n_images']} validation photos; N random points given "
        f"their true colours; ab/128 at 64x64)",
        f"{'hints N':>8}{'heaviest MAE':>14}{'change':>9}{'error-of-best, top ' + str(r['k']):>24}",
    ]
    for n, s in r["counts"].items():
        change = f"{(s['top1_mae'] / base - 1) * 100:+.0f} %" if base else ""
        lines.append(f"{n:>8}{s['top1_mae']:>14.4f}{change:>9}{s['eob']:>24.4f}")
    return "\n".join(lines)
