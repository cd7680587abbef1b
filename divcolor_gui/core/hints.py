"""Colour hints: the user says "this is blue", and every mode follows.

A hint is a point of the photo (x, y in its pixels as opened, after EXIF rotation), a
colour, and an optional radius. Hints steer the diverse modes in two parts (docs/method.md,
section 11):

1. **In the latent space** (`HintSolver.solve`): for every MDN component k, the latent
   z = mu_k + delta that minimises the hint error of the decoded field at the hint points
   (in ab; the photo keeps its own lightness) plus the component's Gaussian prior,
   `sum_h |f(z)(p_h) - t_h|^2 / (2 s^2) + |delta|^2 / (2 sigma^2)`. The decoder is
   linearised around each mean once per photo (`HintSolver.__init__`: finite differences,
   64 decodes per component), so every hint edit is a batch of 8 small linear solves and
   one decode of the 8 results. The modes are then ranked by the objective with the true
   decoded fields and the full mixture prior, `hint error - log p(z)`.
2. **Locally** (`local_correction`): what the 64-d latent cannot give (a small red object
   in a grey scene) is added around each hint as the remaining residual, weighted by
   distance and by the similarity of the photo's lightness to the hint point's, so the
   colour stops at edges instead of leaking across them.

Without hints the solve returns the component means unchanged, ranked by weight.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import lab
from .output_paths import write_json

HINT_NOISE = 0.03  # s: how closely the latent must meet a hint, in ab/128 (about 4 ab units)
DEFAULT_RADIUS_SHARE = 0.03  # a hint without a radius spreads over 3 % of the photo's longer side
EDGE_TOLERANCE = 0.06  # lightness (L / 100) difference at which a hint's correction has faded to 61 %
FD_STEP = 0.05  # finite-difference step of the decoder's linearisation, in latent units
SIDECAR_SUFFIX = ".hints.json"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class HintError(ValueError):
    """A hint that cannot be used; str() is one line naming it."""


@dataclass(frozen=True)
class Hint:
    x: float  # in the photo's pixels as opened (after EXIF rotation)
    y: float
    color: str  # "#rrggbb"
    radius: float | None = None  # in photo pixels; None: DEFAULT_RADIUS_SHARE of the longer side

    def __str__(self) -> str:
        r = f", radius {self.radius:g}" if self.radius is not None else ""
        return f"hint ({self.x:g}, {self.y:g}, {self.color}{r})"

    def target_ab(self) -> torch.Tensor:
        """The colour's (a, b) in ab/128: its chroma and hue; the photo keeps its lightness."""
        rgb = torch.tensor([int(self.color[i : i + 2], 16) / 255 for i in (1, 3, 5)]).view(3, 1, 1)
        return lab.rgb_to_lab(rgb)[1:, 0, 0] / lab.AB_SCALE


def make_hint(x, y, color, radius=None, name: str = "hint") -> Hint:
    """A Hint from loose values (JSON, the command line), or HintError naming `name`."""
    try:
        xf, yf = float(x), float(y)
    except (TypeError, ValueError):
        raise HintError(f"{name}: x and y must be numbers (got {x!r}, {y!r})") from None
    if not isinstance(color, str) or not _COLOUR.match(color):
        raise HintError(f"{name}: colour must be #RRGGBB (got {color!r})")
    if radius is not None:
        try:
            radius = float(radius)
        except (TypeError, ValueError):
            raise HintError(f"{name}: radius must be a number (got {radius!r})") from None
        if not radius > 0:
            raise HintError(f"{name}: radius must be above 0 (got {radius:g})")
    if not (np.isfinite(xf) and np.isfinite(yf)):
        raise HintError(f"{name}: x and y must be finite")
    return Hint(xf, yf, color.lower(), radius)


def parse_hint(text: str) -> Hint:
    """ "X,Y,#RRGGBB" or "X,Y,#RRGGBB,RADIUS" (the command line's --hint)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise HintError(f"hint {text!r}: expected X,Y,#RRGGBB or X,Y,#RRGGBB,RADIUS")
    return make_hint(*parts, name=f"hint {text!r}")


def hints_from_json(obj) -> list[Hint]:
    """{"hints": [{"x": 120, "y": 40, "color": "#3366cc", "radius": 6}, ...]} -> hints."""
    if not isinstance(obj, dict) or not isinstance(obj.get("hints"), list):
        raise HintError('hints file: expected {"hints": [{"x": ..., "y": ..., "color": "#rrggbb"}, ...]}')
    out = []
    for i, h in enumerate(obj["hints"], 1):
        if not isinstance(h, dict) or not {"x", "y", "color"} <= set(h):
            raise HintError(f"hint {i}: needs x, y and color (got {h!r})")
        out.append(make_hint(h["x"], h["y"], h["color"], h.get("radius"), name=f"hint {i}"))
    return out


def load_hints(path: str | Path) -> list[Hint]:
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise HintError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HintError(f"{path}: not valid JSON ({e})") from None
    try:
        return hints_from_json(obj)
    except HintError as e:
        raise HintError(f"{path}: {e}") from None


def hints_to_json(hints: list[Hint]) -> dict:
    return {"hints": [{k: v for k, v in asdict(h).items() if v is not None} for h in hints]}


def save_hints(path: str | Path, hints: list[Hint]) -> Path:
    path = Path(path)
    write_json(path, hints_to_json(hints))  # a failed write keeps the hints saved before
    return path


def sidecar_path(image: str | Path) -> Path:
    """Where the hints of a photo or an export are kept: `photo.hints.json` beside it."""
    image = Path(image)
    return image.with_name(image.stem + SIDECAR_SUFFIX)


def check_hints(hints: list[Hint], width: int, height: int) -> None:
    """HintError naming the first hint outside a width x height photo."""
    for i, h in enumerate(hints, 1):
        if not (0 <= h.x < width and 0 <= h.y < height):
            raise HintError(f"hint {i} ({h.x:g}, {h.y:g}, {h.color}): outside the {width}x{height} photo")


# ----------------------------------------------------------------------------- geometry


def cell_weights(hints: list[Hint], width: int, height: int, n: int = lab.FIELD_SIZE):
    """Bilinear sampling of an n x n field at each hint: (H, 4) flat cell indices and weights.
    The field covers the whole photo (stretched), cell centres at (i + 0.5) * side / n."""
    idx, wts = [], []
    for h in hints:
        u = min(max((h.x + 0.5) * n / width - 0.5, 0.0), n - 1.0)
        v = min(max((h.y + 0.5) * n / height - 0.5, 0.0), n - 1.0)
        u0, v0 = int(u), int(v)
        u1, v1 = min(u0 + 1, n - 1), min(v0 + 1, n - 1)
        fu, fv = u - u0, v - v0
        idx.append([v0 * n + u0, v0 * n + u1, v1 * n + u0, v1 * n + u1])
        wts.append([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv])
    return torch.tensor(idx, dtype=torch.long).view(-1, 4), torch.tensor(wts).view(-1, 4)


def sample_field(fields: torch.Tensor, idx: torch.Tensor, wts: torch.Tensor) -> torch.Tensor:
    """fields (..., C, n, n) -> (..., H, C): each hint's bilinear sample."""
    flat = fields.flatten(-2)  # (..., C, n*n)
    picked = flat[..., idx]  # (..., C, H, 4)
    return (picked * wts.to(flat)).sum(-1).transpose(-1, -2)


def spread_weights(guide: torch.Tensor, hints: list[Hint], width: int, height: int) -> torch.Tensor:
    """(H, n, n): how much of each hint's residual a field cell takes.

    A Gaussian of the distance in photo pixels (sigma: the hint's radius) times a Gaussian
    of the lightness difference to the hint point (guide: the photo's L / 100 at n x n,
    lab.field_guide), so the colour stops at edges instead of leaking across them.
    """
    n = guide.shape[-1]
    idx, wts = cell_weights(hints, width, height, n)
    g_at = sample_field(guide[None], idx, wts)[:, 0]  # (H,)
    ys = ((torch.arange(n) + 0.5) * height / n).view(1, n, 1)
    xs = ((torch.arange(n) + 0.5) * width / n).view(1, 1, n)
    hx = torch.tensor([h.x for h in hints]).view(-1, 1, 1)
    hy = torch.tensor([h.y for h in hints]).view(-1, 1, 1)
    r = torch.tensor([h.radius or DEFAULT_RADIUS_SHARE * max(width, height) for h in hints]).view(-1, 1, 1)
    d2 = ((xs - hx) ** 2 + (ys - hy) ** 2) / (2 * r * r)
    return torch.exp(-d2 - (guide[None] - g_at.view(-1, 1, 1)) ** 2 / (2 * EDGE_TOLERANCE**2))


def local_correction(
    fields: torch.Tensor, spread: torch.Tensor, idx: torch.Tensor, wts: torch.Tensor, targets: torch.Tensor,
    passes: int = 3,
) -> torch.Tensor:  # fmt: skip
    """fields (..., 2, n, n) ab/128 + the residual at each hint (targets (H, 2)) spread
    around it by `spread` (spread_weights) -> corrected fields. Overlapping hints share a
    cell by weight; three passes meet each hint at its point to well under 1 %."""
    norm = spread.sum(0).clamp_min(1.0)
    out = fields
    for _ in range(passes):
        residual = targets - sample_field(out, idx, wts)  # (..., H, 2)
        out = out + torch.einsum("hyx,...hc->...cyx", spread, residual) / norm
    return out.clamp(-1, 1)


# ----------------------------------------------------------------------------- the solver


@dataclass
class HintedMode:
    z: torch.Tensor  # (d,) the latent found from `component`'s mean
    field: torch.Tensor  # (2, 64, 64) ab/128: decoded, plus the local correction
    decoded: torch.Tensor  # (2, 64, 64) ab/128: what the latent alone gives
    objective: float  # hint error - log p(z), the ranking
    component: int  # the MDN component (index in the analysis, by weight) it started from
    latent_error: float  # mean |ab error| at the hints of the latent alone, ab/128
    error: float  # the same after the local correction


class HintSolver:
    """One photo's hint solving: the decoder linearised around its component means once,
    then `solve(hints)` for every edit (milliseconds)."""

    def __init__(self, colorizer, analysis, noise: float = HINT_NOISE):
        self.colorizer, self.analysis, self.noise = colorizer, analysis, noise
        self.means = analysis.means.float()  # (K, d), by weight
        self.log_pi = torch.log(torch.as_tensor(analysis.weights, dtype=torch.float32).clamp_min(1e-12))
        self.variance = float(colorizer.mdn.cfg.variance)
        K, d = self.means.shape
        self.guide = lab.field_guide(analysis.photo.L)
        # Decoded means and the decoder's Jacobian at each (finite differences, one batch).
        steps = self.means[:, None, :] + FD_STEP * torch.eye(d)[None]  # (K, d, d)
        # float32: bfloat16's rounding, divided by the small step, would swamp the slopes.
        dec = self._decode(torch.cat([self.means, steps.reshape(K * d, d)]), exact=True)
        self.fields = dec[:K]  # (K, 2, n, n)
        # In place: the set-up is the peak of the app's memory, and this copy would add to it.
        self.jacobian = dec[K:].view(K, d, *dec.shape[1:]).sub_(self.fields[:, None]).div_(FD_STEP)

    def _decode(self, z: torch.Tensor, chunk: int = 64, exact: bool = False) -> torch.Tensor:
        # 64 latents a batch: as fast on a CPU as 256, and the decoder's activations for the
        # set-up's 520 latents stay ~40 MB instead of ~150 MB. Each batch goes straight into
        # the result, so the decoded fields are never held twice.
        out = None
        for i in range(0, len(z), chunk):
            part = self.colorizer.decode(z[i : i + chunk], self.analysis, exact)
            if out is None:
                out = part.new_empty((len(z), *part.shape[1:]))
            out[i : i + len(part)] = part
        return out

    def neg_log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """-log p(z) under the photo's mixture (up to a constant): (N, d) -> (N,)."""
        d2 = ((z[:, None, :] - self.means[None]) ** 2).sum(-1)  # (N, K)
        return -torch.logsumexp(self.log_pi[None] - d2 / (2 * self.variance), dim=1)

    def correction(self, hints: list[Hint]) -> Callable[[torch.Tensor], torch.Tensor]:
        """fields (..., 2, 64, 64) -> those fields with these hints' local correction, as
        `solve` applies it to its modes (for any latent decoded while the hints hold)."""
        W, H = self.analysis.photo.size
        idx, wts = cell_weights(hints, W, H)
        targets = torch.stack([h.target_ab() for h in hints])
        spread = spread_weights(self.guide, hints, W, H)
        return partial(local_correction, spread=spread, idx=idx, wts=wts, targets=targets)

    @torch.inference_mode()
    def solve(self, hints: list[Hint]) -> list[HintedMode]:
        """The modes under these hints, best objective first."""
        W, H = self.analysis.photo.size
        check_hints(hints, W, H)
        K, d = self.means.shape
        if not hints:
            return [
                HintedMode(self.means[k], self.fields[k], self.fields[k], float(-self.log_pi[k]), k, 0.0, 0.0)
                for k in range(K)
            ]
        idx, wts = cell_weights(hints, W, H)
        targets = torch.stack([h.target_ab() for h in hints])  # (H, 2)
        a = sample_field(self.fields, idx, wts)  # (K, H, 2)
        J = sample_field(self.jacobian.flatten(1, 2), idx, wts)  # (K, d*2 -> H, ...)
        J = J.view(K, len(hints), d, 2).permute(0, 1, 3, 2).reshape(K, len(hints) * 2, d)  # (K, 2H, d)
        r = (targets[None] - a).reshape(K, -1, 1)  # (K, 2H, 1)
        c = 1.0 / (2 * self.noise**2)
        A = c * J.transpose(1, 2) @ J + torch.eye(d) / (2 * self.variance)
        delta = torch.linalg.solve(A, c * J.transpose(1, 2) @ r)[..., 0]  # (K, d)
        z = self.means + delta
        decoded = self._decode(z)
        at = sample_field(decoded, idx, wts)  # (K, H, 2)
        hint_err = c * ((at - targets[None]) ** 2).sum((1, 2))
        objective = hint_err + self.neg_log_prior(z)
        fields = self.correction(hints)(decoded)
        after = (sample_field(fields, idx, wts) - targets[None]).abs().mean((1, 2))  # (K,)
        before = (at - targets[None]).abs().mean((1, 2))
        return [
            HintedMode(z[k], fields[k], decoded[k], float(objective[k]), k, float(before[k]), float(after[k]))
            for k in torch.argsort(objective).tolist()
        ]
