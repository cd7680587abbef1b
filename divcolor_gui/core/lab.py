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
    """(23, 23) grid index -> nearest in-gamut bin, so lookup is one gather."""
    g = np.arange(_GRID_N) * _GRID_STEP + _GRID_MIN
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 1, 2)
    nearest = np.argmin(((grid - AB_BINS[None]) ** 2).sum(-1), axis=1)
    return torch.from_numpy(nearest.reshape(_GRID_N, _GRID_N)).long()


_BIN_LUT = _bin_lookup_table()


def ab_to_bin(ab: torch.Tensor) -> torch.Tensor:
    """(..., 2, H, W) ab in Lab units -> (..., H, W) long index into AB_BINS.

    Colours outside the gamut grid go to the nearest in-gamut bin.
    """
    idx = torch.round((ab - _GRID_MIN) / _GRID_STEP).long().clamp_(0, _GRID_N - 1)
    lut = _BIN_LUT.to(ab.device)
    return lut[idx.select(-3, 0), idx.select(-3, 1)]


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


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) Lab -> (..., 3, H, W) sRGB clipped to [0, 1]."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], -3)
    xyz = torch.where(f > 6 / 29, f**3, (f - 16 / 116) / _KAPPA)
    xyz = xyz * _WHITE.to(lab).view(3, 1, 1)
    lin = torch.einsum("ij,...jhw->...ihw", _XYZ_TO_RGB.to(lab), xyz).clamp_(0, 1)
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
) -> torch.Tensor:
    """(2, 64, 64) ab in Lab units -> (2, H, W) at the size of L_full (H, W) in [0, 100].

    mode "guided" follows the photo's edges; "bilinear" is the plain variant.
    """
    H, W = L_full.shape
    if mode == "bilinear":
        return F.interpolate(ab_field[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    if mode != "guided":
        raise ValueError(f"unknown upsampling mode {mode!r} (guided or bilinear)")
    # Solve the filter at a working resolution a few times the field's, where the
    # guide still has the edges that matter but the box filters stay cheap.
    scale = min(1.0, 256.0 / max(H, W))
    h, w = max(8, round(H * scale)), max(8, round(W * scale))
    guide_lo = F.interpolate(L_full[None, None], size=(h, w), mode="area")[0, 0] / 100.0
    src_lo = F.interpolate(ab_field[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    radius = max(1, round(min(h, w) / FIELD_SIZE))  # about one field cell
    A, B = guided_coefficients(guide_lo, src_lo / AB_SCALE, radius=radius, eps=1e-3)
    out = torch.empty(2, H, W, dtype=L_full.dtype, device=L_full.device)
    AB = torch.cat([A, B])[None]  # (1, 4, h, w)
    for y0 in range(0, H, rows_per_chunk):
        y1 = min(H, y0 + rows_per_chunk)
        # Sample the coefficient maps at the chunk's pixel centres (align_corners=False).
        ys = (torch.arange(y0, y1, dtype=torch.float32) + 0.5) / H * 2 - 1
        xs = (torch.arange(W, dtype=torch.float32) + 0.5) / W * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]
        coef = F.grid_sample(AB, grid.to(AB), mode="bilinear", align_corners=False)[0]
        g = L_full[y0:y1] / 100.0
        out[:, y0:y1] = (coef[:2] * g + coef[2:]) * AB_SCALE
    return out


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
        rgb = lab_to_rgb(lab)
        out[y0:y1] = (rgb * 255 + 0.5).byte().permute(1, 2, 0).cpu().numpy()
    return out
