"""The one place that converts colour.

Everything in divcolor speaks CIE Lab (D65, sRGB primaries). The networks see
L scaled to [-1, 1] and ab scaled by 1/128 (the paper's scale: an ab/128 error
of .030 is 3.8 Lab units). Conversions are written in torch, channel-first,
float32, so the same code runs in training batches on a GPU and on a
12-megapixel photo on the CPU (row chunks keep that photo's temporaries small).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) Lab (L in [0, 100])."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = _RGB_TO_XYZ.to(rgb)
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    xyz = xyz / _WHITE.to(rgb).view(3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp_min(1e-12) ** (1 / 3), _KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    L = 116 * fy - 16
    return torch.stack([L, 500 * (fx - fy), 200 * (fy - fz)], -3)


def _lab_to_linear(lab: torch.Tensor, dim: int) -> torch.Tensor:
    """(..., 3, H, W) Lab -> linear-light sRGB in [0, 1], channels stacked at `dim`
    (-3 for channel-first, -1 for an interleaved image)."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116

    def inv_f(f: torch.Tensor) -> torch.Tensor:
        return torch.where(f > 6 / 29, f * f * f, (f - 16 / 116) / _KAPPA)

    x = inv_f(fy + a / 500) * float(_WHITE[0])
    y = inv_f(fy) * float(_WHITE[1])
    z = inv_f(fy - b / 200) * float(_WHITE[2])
    return torch.stack([x * r[0] + y * r[1] + z * r[2] for r in _XYZ_TO_RGB.tolist()], dim).clamp_(0, 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) Lab -> (..., 3, H, W) sRGB clipped to [0, 1]."""
    lin = _lab_to_linear(lab, -3)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)
    return rgb.clamp_(0, 1)


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., H, W) L only (cheaper than full Lab)."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    y = torch.einsum("j,...jhw->...hw", _RGB_TO_XYZ[1].to(rgb), lin)
    fy = torch.where(y > _EPS, y.clamp_min(1e-12) ** (1 / 3), _KAPPA * y + 16 / 116)
    return 116 * fy - 16


# ----------------------------------------------------------------------------- network scaling


def l_to_net(L: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> network input in [-1, 1]."""
    return (L - L_CENTER) / L_CENTER


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


def upsample_ab(
    ab_field: torch.Tensor,
    L_full: torch.Tensor,
    mode: str = "guided",
    rows_per_chunk: int = 512,
    eps: float = 2e-4,
) -> torch.Tensor:
    """(2, 64, 64) ab in Lab units -> (2, H, W) at the size of L_full (H, W) in [0, 100].

    mode "guided" follows the photo's edges; "bilinear" is the plain variant.
    """
    H, W = L_full.shape
    if mode == "bilinear":
        return F.interpolate(ab_field[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    if mode != "guided":
        raise ValueError(f"unknown upsampling mode {mode!r} (guided or bilinear)")
    # Solve the filter where the field lives: the guide is the photo's L averaged onto
    # the same 64 x 64 cells the field was predicted for (stretched like the field for
    # non-square photos), radius one cell. Each cell then holds a local linear model
    # ab = A * L + B; evaluating the upsampled models on the full-resolution L puts the
    # colour edges on the photo's edges. Everything at full resolution is one bilinear
    # resize and a multiply-add, which keeps live previews cheap.
    n = ab_field.shape[-1]
    guide_lo = F.interpolate(L_full[None, None], size=(n, n), mode="area")[0, 0] / 100.0
    A, B = guided_coefficients(guide_lo, ab_field / AB_SCALE, radius=1, eps=eps)
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
    return F.interpolate(rows, size=(y1 - y0, W), mode="bilinear", align_corners=False)[0]


def _srgb8_table(n: int = 16384) -> torch.Tensor:
    """Linear light in [0, 1] (n steps) -> 8-bit sRGB. The sRGB curve's pow is most of
    Lab -> RGB's cost; at 1/16383 steps the table is within a fifth of a level."""
    lin = torch.linspace(0, 1, n, dtype=torch.float64)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)
    return (rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8)


_SRGB8 = _srgb8_table()


def lab_to_rgb8(lab: torch.Tensor) -> torch.Tensor:
    """(3, H, W) Lab -> (H, W, 3) uint8 sRGB, pixel-interleaved like an image file.

    `lab_to_rgb` with the channels written straight into the interleaved layout and the
    sRGB curve as a lookup: this is the per-pixel half of every live preview.
    """
    n = len(_SRGB8) - 1
    idx = _lab_to_linear(lab, -1).mul_(n).add_(0.5).long()
    return _SRGB8.to(lab.device)[idx]


def combine(
    L_full: torch.Tensor, ab_field: torch.Tensor, mode: str = "guided", rows_per_chunk: int = 512
) -> np.ndarray:
    """Post-processing: the photo's own L (H, W) + a (2, 64, 64) ab/128 field -> (H, W, 3) uint8."""
    ab = upsample_ab(net_to_ab(ab_field.float()), L_full, mode=mode, rows_per_chunk=rows_per_chunk)
    H, W = L_full.shape
    out = np.empty((H, W, 3), dtype=np.uint8)
    for y0 in range(0, H, rows_per_chunk):
        y1 = min(H, y0 + rows_per_chunk)
        lab = torch.cat([L_full[None, y0:y1], ab[:, y0:y1]])
        out[y0:y1] = lab_to_rgb8(lab).cpu().numpy()
    return out
