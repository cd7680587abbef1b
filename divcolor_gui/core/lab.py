"""The one place that converts colour.

Everything in divcolor speaks CIE Lab (D65, sRGB primaries). The networks see
L scaled to [-1, 1] and ab scaled by 1/128 (the paper's scale: an ab/128 error
of .030 is 3.8 Lab units). Conversions are written in torch, channel-first,
float32, so the same code runs in training batches on a GPU and on a
12-megapixel photo on the CPU (row chunks keep that photo's temporaries small).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .vocabulary import UPSAMPLING_MODES

AB_SCALE = 128.0  # ab / AB_SCALE is what the networks predict
L_CENTER = 50.0  # L in [0, 100] -> (L - 50) / 50 in [-1, 1]
FIELD_SIZE = 64  # the paper's colour field is 64 x 64 x 2

# D65 reference white and the sRGB <-> XYZ matrices (IEC 61966-2-1).
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_EPS = 0.008856  # (6/29)^3, the CIE linear/cube-root switch
_KAPPA = 7.787  # slope of the linear part

# Zhang et al.'s 313 in-gamut ab bins on a 10-unit grid: for each a, the range of b
# (inclusive, in Lab units). Rows are contiguous, so the table is this short.
_GAMUT_ROWS = (
    (-90, 50, 90), (-80, 20, 90), (-70, 0, 90), (-60, -20, 90), (-50, -30, 100),
    (-40, -40, 100), (-30, -50, 100), (-20, -50, 100), (-10, -60, 100), (0, -70, 100),
    (10, -80, 90), (20, -80, 90), (30, -90, 90), (40, -100, 90), (50, -100, 80),
    (60, -110, 80), (70, -110, 80), (80, -110, 70), (90, -110, 70), (100, -90, 0),
)  # fmt: skip
AB_BINS = np.array(
    [(a, b) for a, lo, hi in _GAMUT_ROWS for b in range(lo, hi + 1, 10)], dtype=np.float32
)  # (313, 2) bin centres in Lab units
N_BINS = len(AB_BINS)
_GRID_MIN, _GRID_STEP, _GRID_N = -110, 10, 23  # the 23 x 23 grid the bins sit on


def _bin_lookup_table() -> torch.Tensor:
    """(23, 23) grid index -> its bin, or -1 where the grid point is out of gamut."""
    lut = np.full((_GRID_N, _GRID_N), -1, dtype=np.int64)
    cells = ((AB_BINS - _GRID_MIN) / _GRID_STEP).astype(np.int64)
    lut[cells[:, 0], cells[:, 1]] = np.arange(N_BINS)
    return torch.from_numpy(lut)


_BIN_LUT = _bin_lookup_table()
_BINS_T = torch.from_numpy(AB_BINS)


def ab_to_bin(ab: torch.Tensor) -> torch.Tensor:
    """(..., 2, H, W) ab in Lab units -> (..., H, W) long index of the nearest of AB_BINS.

    Where the nearest grid point is in gamut it is the nearest bin (the bins fill the
    grid there), so that is one gather. The rest, colours beyond the gamut's rim, are
    rare in photos and get an exhaustive search.
    """
    idx = torch.round((ab - _GRID_MIN) / _GRID_STEP).long().clamp_(0, _GRID_N - 1)
    out = _BIN_LUT.to(ab.device)[idx.select(-3, 0), idx.select(-3, 1)]
    outside = out < 0
    if outside.any():
        pts = ab.movedim(-3, -1)[outside].float()  # (n, 2)
        out[outside] = torch.cdist(pts, _BINS_T.to(pts)).argmin(1)
    return out


# ----------------------------------------------------------------------------- RGB <-> Lab


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """The sRGB curve undone: values in [0, 1] -> linear light."""
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def _f(t: torch.Tensor) -> torch.Tensor:
    """CIE f: the cube root above (6/29)^3, its tangent line below."""
    return torch.where(t > _EPS, t.clamp_min(1e-12) ** (1 / 3), _KAPPA * t + 16 / 116)


def mean_chroma_rgb8(rgb8: np.ndarray) -> float:
    """Mean Lab chroma sqrt(a² + b²) of an (H, W, 3) uint8 image: 0 for grey, about 5-10 for
    a sepia print. Subsample a big image first: the mean barely moves."""
    t = torch.from_numpy(np.array(rgb8)).permute(2, 0, 1).float() / 255  # a copy: rgb8 may be read-only
    return float(rgb_to_lab(t)[1:].norm(dim=0).mean())


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) Lab (L in [0, 100])."""
    lin = _srgb_to_linear(rgb)
    m = _RGB_TO_XYZ.to(rgb)
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    xyz = xyz / _WHITE.to(rgb).view(3, 1, 1)
    f = _f(xyz)
    fx, fy, fz = f.unbind(-3)
    L = 116 * fy - 16
    return torch.stack([L, 500 * (fx - fy), 200 * (fy - fz)], -3)


def _inv_f(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1: f^3 above 6/29, the linear segment below. Written as c^3 + slope * (f - c)
    with c = max(f, 6/29), which is the same function (the segment is the cube's tangent
    at 6/29) without a mask: one pass fewer per pixel on the live-preview path."""
    c = f.clamp_min(6 / 29)
    return torch.addcmul(c * c * c, f - c, torch.full((), 1 / _KAPPA, dtype=f.dtype, device=f.device))


def _inv_f_into(f: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """_inv_f of f into `out` (f's shape), spending f: four passes, no allocation."""
    torch.clamp_min(f, 6 / 29, out=out)  # c
    f.sub_(out)  # f - c
    return out.pow_(3).add_(f, alpha=1 / _KAPPA)


def _linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] -> the sRGB curve's values in [0, 1]."""
    return torch.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) Lab -> (..., 3, H, W) sRGB clipped to [0, 1].
    (The live preview's folded version of this arithmetic is `Recombiner`.)"""
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    x = _inv_f(fy + a / 500) * float(_WHITE[0])
    y = _inv_f(fy) * float(_WHITE[1])
    z = _inv_f(fy - b / 200) * float(_WHITE[2])
    lin = torch.stack([x * r[0] + y * r[1] + z * r[2] for r in _XYZ_TO_RGB.tolist()], -3).clamp_(0, 1)
    return _linear_to_srgb(lin).clamp_(0, 1)


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., H, W) L only (cheaper than full Lab)."""
    y = torch.einsum("j,...jhw->...hw", _RGB_TO_XYZ[1].to(rgb), _srgb_to_linear(rgb))
    return 116 * _f(y) - 16


def _srgb8_to_y_table() -> np.ndarray:
    """(3, 256) float32: each 8-bit channel value's contribution to Y (linearised, weighted)."""
    lin = _srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255)
    return (_RGB_TO_XYZ[1].double()[:, None] * lin[None]).float().numpy()


_Y_OF_SRGB8 = _srgb8_to_y_table()


def rgb8_to_l(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 sRGB -> (H, W) float32 L, as rgb_to_l computes it: the sRGB curve
    is a table lookup per channel (the curve's pow over every channel of every pixel was
    most of loading a 12-megapixel photo), one cube root per pixel remains."""
    y = _Y_OF_SRGB8[0].take(rgb[..., 0])
    y += _Y_OF_SRGB8[1].take(rgb[..., 1])
    y += _Y_OF_SRGB8[2].take(rgb[..., 2])
    return _f(torch.from_numpy(y)).mul_(116).sub_(16)


# ----------------------------------------------------------------------------- gamut

_GAMUT_HUES = 720  # hue steps of the chroma table (half a degree); its L steps are 1 unit, 0..100
_GAMUT_SLACK = 1.5  # Lab units let through beyond the table: corners of the gamut fall between rows


def _shows_in_srgb(L: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Whether sRGB can show each Lab colour (Lab units, broadcast): linear RGB in [0, 1]."""
    fy = (L + 16) / 116
    x, y, z = _inv_f(fy + a / 500), _inv_f(fy), _inv_f(fy - b / 200)
    shows = None
    for r in (_XYZ_TO_RGB * _WHITE).tolist():
        v = x * r[0] + y * r[1] + z * r[2]
        ok = (v >= 0) & (v <= 1)
        shows = ok if shows is None else shows & ok
    return shows


@functools.cache
def _max_chroma_table() -> torch.Tensor:
    """(101 * (_GAMUT_HUES + 1),) flattened: for each L 0..100 (rows) and hue (columns; the
    last repeats the first, so a hue's next column always exists), the outermost chroma at
    which sRGB shows the colour, in Lab units: scanned outwards from grey in 1-unit steps,
    then bisected to 1e-4. The outermost, not the first way out: near yellow (L 95-98) a ray
    leaves the gamut and comes back in (red passes 1 and returns), and the colours further
    out, such as sRGB's own yellow, must stay. About 0.15 s, once."""
    hue = torch.arange(_GAMUT_HUES + 1, dtype=torch.float64) * (2 * math.pi / _GAMUT_HUES)
    steps = torch.arange(141, dtype=torch.float32)[:, None]  # chroma 0..140: beyond any sRGB colour
    a, b = steps * hue.cos().float(), steps * hue.sin().float()
    last = torch.zeros(101, _GAMUT_HUES + 1, dtype=torch.float64)
    for l0 in range(0, 101, 10):  # 10 rows at a time keep the scan's arrays small
        L = torch.arange(l0, min(101, l0 + 10), dtype=torch.float32)[:, None, None]
        shows = _shows_in_srgb(L, a, b)  # (rows, 141, hues)
        last[l0 : l0 + len(L)] = torch.where(shows, steps, 0.0).amax(1).double()
    L = torch.arange(101, dtype=torch.float64)[:, None]
    lo, hi = last, last + 1
    for _ in range(14):
        c = (lo + hi) / 2
        shows = _shows_in_srgb(L, c * hue.cos(), c * hue.sin())
        lo, hi = torch.where(shows, c, lo), torch.where(shows, hi, c)
    return lo.float().flatten()


def fit_gamut(ab_field: torch.Tensor, L_field: torch.Tensor) -> torch.Tensor:
    """(..., 2, n, n) ab/128 and its cells' L in [0, 100] as (..., 1, n, n) (one L for both
    channels, as grey levels come) -> the field with each cell's chroma cut to what sRGB can
    show at that L and hue, keeping hue and L.

    A photo's own colours are always inside. A decoder's can be outside, most often near
    black and white, where sRGB holds little chroma; rendered, those would be clipped
    channel by channel, which changes their lightness and hue (a dark background turns red).
    Rendering (`Recombiner`) fits, and so does everything that scores colorizations
    (`trainer.compare.LoadedMethod.diverse`, the ranking, the hint evaluation, training's
    previews and validation): the metrics score what is shown. The limit is the largest of
    the table's four entries around the cell's (L, hue), plus _GAMUT_SLACK, scaled down with L
    below 1 (where it goes to 0 with L): colours inside are left as they are, and what passes
    beyond the edge is within a table step, which rendering clips."""
    if L_field.dim() != ab_field.dim() or L_field.shape[-3] != 1:
        raise ValueError(
            f"L for a field of shape {tuple(ab_field.shape)} must be (..., 1, n, n), not {tuple(L_field.shape)}"
        )
    table = _max_chroma_table().to(ab_field.device)
    a, b = (ab_field.float() * AB_SCALE).unbind(-3)
    hue = torch.atan2(b, a).mul_(_GAMUT_HUES / (2 * math.pi)).remainder_(_GAMUT_HUES)
    L = L_field.float().squeeze(-3).clamp(0, 99.999).expand_as(a)
    up = _GAMUT_HUES + 1  # one L step in the flattened table
    # A hue a hair below 0 rounds to _GAMUT_HUES itself; the clamp also keeps NaN from indexing.
    i = (L.long() * up + hue.long().clamp_(0, _GAMUT_HUES - 1)).clamp_(0, table.numel() - up - 2)
    limit = torch.maximum(torch.maximum(table.take(i), table.take(i + 1)),
                          torch.maximum(table.take(i + up), table.take(i + up + 1)))  # fmt: skip
    limit = limit.add_(_GAMUT_SLACK).mul_(L.clamp(max=1.0))
    scale = limit.div_(torch.hypot(a, b).clamp_min_(1e-6)).clamp_(max=1.0)
    return ab_field * scale.unsqueeze(-3).to(ab_field.dtype)


def fit_modes_to_grey(modes: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    """fit_gamut for a batch's colorizations: modes (B, k, 2, n, n) ab/128 of the photos whose
    network grey is (B, 1, S, S) (any S; averaged onto the field's cells)."""
    return fit_gamut(modes, net_to_l(grey_at_field_size(grey))[:, None])


# ----------------------------------------------------------------------------- network scaling


def l_to_net(L: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> network input in [-1, 1]."""
    return (L - L_CENTER) / L_CENTER


def net_to_l(grey: torch.Tensor) -> torch.Tensor:
    """Network input in [-1, 1] -> L in [0, 100]."""
    return grey * L_CENTER + L_CENTER


def net_to_srgb_grey(grey: torch.Tensor) -> torch.Tensor:
    """Network input in [-1, 1] -> the sRGB value in [0, 1] of the neutral grey of that L
    (what a network trained on sRGB photos saw for it)."""
    y = _inv_f((net_to_l(grey) + 16) / 116).clamp_(0, 1)
    return _linear_to_srgb(y)


def ab_to_net(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> ab / 128 (the paper's scale)."""
    return ab / AB_SCALE


def net_to_ab(ab_net: torch.Tensor) -> torch.Tensor:
    return ab_net * AB_SCALE


def rgb_uint8_to_net(rgb: torch.Tensor, grey_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pre-processing, one matched pair with `combine`.

    rgb: (B, 3, S, S) uint8 -> grey (B, 1, grey_size, grey_size) in [-1, 1],
    ab (B, 2, 64, 64) in ab / 128.
    """
    lab = rgb_to_lab(rgb.float() / 255.0)
    ab = lab[:, 1:]
    if ab.shape[-1] != FIELD_SIZE:
        ab = F.interpolate(ab, size=(FIELD_SIZE, FIELD_SIZE), mode="area")
    L = lab[:, :1]
    if L.shape[-1] != grey_size:
        L = F.interpolate(L, size=(grey_size, grey_size), mode="area")
    return l_to_net(L), ab_to_net(ab)


def grey_at_field_size(grey: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) network grey -> (B, 1, 64, 64): what a skip decoder takes beside z."""
    if grey.shape[-1] == FIELD_SIZE:
        return grey
    return F.interpolate(grey, size=(FIELD_SIZE, FIELD_SIZE), mode="area")


# ----------------------------------------------------------------------------- recombination


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window with edge replication; x is (C, H, W)."""
    k = 2 * r + 1
    xp = F.pad(x[None], (r, r, r, r), mode="replicate")
    return F.avg_pool2d(xp, k, stride=1)[0]


def guided_coefficients(
    guide_lo: torch.Tensor, src_lo: torch.Tensor, radius: int = 2, eps: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """He et al.'s guided filter, solved at low resolution (the 'fast' variant).

    guide_lo: (h, w) L / 100; src_lo: (C, h, w). Returns per-pixel linear
    coefficients A, B (each (C, h, w)) such that src ~ A * guide + B locally.
    Upsampling A and B and applying them to the full-resolution L puts the colour
    edges where the photo's own edges are.
    """
    g = guide_lo[None]
    mean_g = _box(g, radius)
    mean_s = _box(src_lo, radius)
    cov = _box(g * src_lo, radius) - mean_g * mean_s
    var = _box(g * g, radius) - mean_g * mean_g
    A = cov / (var + eps)
    B = mean_s - A * mean_g
    return _box(A, radius), _box(B, radius)


def _check_mode(mode: str) -> None:
    if mode not in UPSAMPLING_MODES:
        raise ValueError(f"unknown upsampling mode {mode!r}: choose from {', '.join(UPSAMPLING_MODES)}")


def field_guide(L_full: torch.Tensor, n: int = FIELD_SIZE) -> torch.Tensor:
    """The photo's L / 100 averaged onto the n x n cells the field was predicted for
    (stretched like the field for non-square photos)."""
    return F.interpolate(L_full[None, None], size=(n, n), mode="area")[0, 0] / 100.0


def _field_coefficients(
    guide_lo: torch.Tensor, ab_field: torch.Tensor, mode: str, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B), each (2, n, n), such that ab = (A * L / 100 + B) * AB_SCALE, evaluated on the
    bilinearly upsampled A and B, is the upsampled field. ab_field is (2, n, n) ab/128.

    "guided" follows the photo's edges; "bilinear" is the plain variant (A = 0, B = field).
    """
    _check_mode(mode)
    if mode == "bilinear":
        return torch.zeros_like(ab_field), ab_field
    # Solve the filter where the field lives, radius one cell. Each cell then holds a
    # local linear model ab = A * L + B; evaluating the upsampled models on the
    # full-resolution L puts the colour edges on the photo's edges. Everything at full
    # resolution is one bilinear resize and a multiply-add, which keeps previews cheap.
    return guided_coefficients(guide_lo, ab_field, radius=1, eps=eps)


def upsample_ab(
    ab_field: torch.Tensor,
    L_full: torch.Tensor,
    mode: str = "guided",
    rows_per_chunk: int = 512,
    eps: float = 2e-4,
) -> torch.Tensor:
    """(2, 64, 64) ab in Lab units -> (2, H, W) at the size of L_full (H, W) in [0, 100]."""
    H, W = L_full.shape
    _check_mode(mode)
    if mode == "bilinear":
        return F.interpolate(ab_field[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    A, B = _field_coefficients(field_guide(L_full, ab_field.shape[-1]), ab_field / AB_SCALE, mode, eps)
    AB = torch.cat([A, B])[None]  # (1, 4, n, n)
    out = torch.empty(2, H, W, dtype=L_full.dtype, device=L_full.device)
    for y0 in range(0, H, rows_per_chunk):
        y1 = min(H, y0 + rows_per_chunk)
        coef = _resize_rows(AB, H, W, y0, y1)
        g = L_full[y0:y1] / 100.0
        out[:, y0:y1] = (coef[:2] * g + coef[2:]) * AB_SCALE
    return out


def _resize_rows(x: torch.Tensor, H: int, W: int, y0: int, y1: int) -> torch.Tensor:
    """Rows y0:y1 of the (align_corners=False) bilinear resize of x (1, C, h, w) to (H, W),
    computed without the full-size result. Edge cells are clamped (no zero padding)."""
    h = x.shape[-2]
    ys = ((torch.arange(y0, y1, dtype=torch.float32) + 0.5) * h / H - 0.5).clamp_(0, h - 1)
    i0 = ys.floor().long()
    i1 = (i0 + 1).clamp_(max=h - 1)
    fy = (ys - i0).to(x)[:, None]
    rows = x[:, :, i0] * (1 - fy) + x[:, :, i1] * fy  # (1, C, y1 - y0, w): vertical first, small
    # Then along each row: the same numbers as a 2-D bilinear resize that keeps the height,
    # in about two thirds of its time.
    C, h_out, w = rows.shape[1:]
    return F.interpolate(rows.view(C * h_out, 1, w), size=W, mode="linear", align_corners=False).view(
        C, h_out, W
    )


def _srgb8_table(n: int = 16384) -> torch.Tensor:
    """Linear light in [0, 1] (n steps) -> 8-bit sRGB. The sRGB curve's pow is most of
    Lab -> RGB's cost; at 1/16383 steps the table is within a fifth of a level."""
    rgb = _linear_to_srgb(torch.linspace(0, 1, n, dtype=torch.float64))
    return (rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8)


_SRGB8 = _srgb8_table()


CHUNK_PIXELS = 512 * 1024  # pixels a Recombiner converts per pass
# ... and for a kept preview on one torch thread (the live decoders'): passes this size run
# about 15 % faster than one over the whole preview (their ~15 floats a pixel of temporaries
# stay nearer the core), and leave each worker's heap a sixth as much to keep.
ONE_THREAD_CHUNK_PIXELS = 128 * 1024


class Recombiner:
    """Post-processing for one photo: its own L (H, W) + a (2, 64, 64) ab/128 field ->
    (H, W, 3) uint8 sRGB, pixel-interleaved like an image file.

    This is the per-pixel half of every live preview, so it is written for passes over
    memory rather than for reading like the formulas: the field's upsampling coefficients
    are folded at 64 x 64 straight into the CIE f-values fx = fy + a/500 and
    fz = fy - b/200 (fy is linear in L), so at full size each f is one multiply-add on L;
    the sRGB curve is a lookup; and with `keep` the parts that depend on L alone (L/100 and
    the Y contribution to each RGB channel) are computed once, for the preview that is
    recombined with a new field many times a second. Without `keep` (a full-resolution
    export) nothing the size of the photo is held beyond the output.
    """

    def __init__(self, L: torch.Tensor, mode: str = "guided", eps: float = 2e-4, keep: bool = False,
                 rows_per_chunk: int | None = None):  # fmt: skip
        _check_mode(mode)
        H, W = L.shape
        # Chunks of about half a million pixels: each holds ~15 floats a pixel of temporaries,
        # so a 12,000-pixel-wide export stays as light as a 1024-pixel preview.
        rows = rows_per_chunk or max(8, CHUNK_PIXELS // max(W, 1))
        # A live preview on several threads: one pass (each op's threads meet once, not once
        # a chunk); on one thread, chunks that stay in cache (`__call__` asks which).
        self._one_pass = keep and rows_per_chunk is None and H * W <= 2 * CHUNK_PIXELS
        self._one_thread_rows = max(8, ONE_THREAD_CHUNK_PIXELS // max(W, 1))
        self.L, self.mode, self.eps, self.rows = L.float(), mode, eps, rows
        self._guide = field_guide(self.L)
        self._kept = self._l_terms(0, H) if keep else None

    def _l_terms(self, y0: int, y1: int) -> tuple[torch.Tensor, torch.Tensor]:
        """L / 100 and each RGB channel's Y term (3, h, W) for rows y0:y1, the latter already
        in the sRGB table's index units (times its last index, plus the 0.5 that rounds)."""
        g = self.L[y0:y1] / 100.0
        y = _inv_f(g * (100 / 116) + 16 / 116).mul_(float(_WHITE[1]) * (len(_SRGB8) - 1))
        return g, (y[None] * _XYZ_TO_RGB[:, 1].to(y).view(3, 1, 1)).add_(0.5)

    def __call__(self, ab_field: torch.Tensor) -> np.ndarray:
        H, W = self.L.shape
        field = ab_field.float().to(self.L.device)
        guide = self._guide if field.shape[-1] == FIELD_SIZE else field_guide(self.L, field.shape[-1])
        field = fit_gamut(field, guide[None] * 100)
        A, B = _field_coefficients(guide, field, self.mode, self.eps)
        # fx = fy + a / 500 and fz = fy - b / 200 with fy = (100 g + 16) / 116, a = S (A_a g + B_a)
        scale = torch.tensor([AB_SCALE / 500, -AB_SCALE / 200], device=A.device).view(2, 1, 1)
        coef = torch.cat([A * scale + 100 / 116, B * scale + 16 / 116])[None]  # (1, 4, n, n)
        table, n = _SRGB8, len(_SRGB8) - 1
        m = _XYZ_TO_RGB.tolist()
        kx, kz = [r[0] * float(_WHITE[0]) * n for r in m], [r[2] * float(_WHITE[2]) * n for r in m]
        out = np.empty((H, W, 3), dtype=np.uint8)
        rows = torch.from_numpy(out)  # the same memory, for torch to write into
        step = self.rows
        if self._one_pass:
            step = H if torch.get_num_threads() > 1 else self._one_thread_rows
        for y0 in range(0, H, step):
            y1 = min(H, y0 + step)
            g, yterm = (
                (self._kept[0][y0:y1], self._kept[1][:, y0:y1]) if self._kept else self._l_terms(y0, y1)
            )
            # In place from here, both planes in each op (fewer passes, and fewer points where
            # torch's two threads wait for each other): the last 2 of the 4 upsampled planes
            # become fx, fz, the first 2 x, z. A fresh tensor the size of the preview costs
            # its page faults on every call, as much as the arithmetic.
            up = _resize_rows(coef, H, W, y0, y1)  # (4, h, W)
            f, c = up[2:], up[:2]
            f.addcmul_(c, g)  # fx, fz
            x, z = _inv_f_into(f, c)
            s0 = f[0]  # spent: scratch
            # Each channel computed in a contiguous plane (interleaved float arithmetic costs more);
            # the table indices are interleaved as they are written, so that one lookup over
            # all three (index_select: int32 indices, both cores) writes the output rows whole.
            idx = torch.empty((y1 - y0, W, 3), dtype=torch.int32)
            for ch in range(3):  # linear light in table units: n * (Y term + X term + Z term) + 0.5
                lin = torch.add(yterm[ch], x, alpha=kx[ch], out=s0).add_(z, alpha=kz[ch])
                idx[..., ch].copy_(lin.clamp_(0.5, n + 0.5))  # truncated (as .to(int32)): rounded
            torch.index_select(table, 0, idx.view(-1), out=rows[y0:y1].view(-1))
        return out


def combine(
    L_full: torch.Tensor, ab_field: torch.Tensor, mode: str = "guided", rows_per_chunk: int | None = None
) -> np.ndarray:
    """The photo's own L (H, W) + a (2, 64, 64) ab/128 field -> (H, W, 3) uint8, once.
    Recombining one photo repeatedly: keep a Recombiner(L, keep=True)."""
    return Recombiner(L_full, mode=mode, rows_per_chunk=rows_per_chunk)(ab_field)
