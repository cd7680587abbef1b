"""divcolor_gui.core.lab against independent references: scikit-image's Lab,
brute-force nearest bins, hand-made block averages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from divcolor_gui.core import lab


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


CORNERS = np.array(list(itertools.product([0.0, 1.0], repeat=3))).reshape(2, 4, 3)  # all 8 cube corners


# ----------------------------------------------------------------------------- RGB <-> Lab


def test_rgb_to_lab_matches_skimage_on_random_colours():
    rgb = np.random.default_rng(0).random((32, 32, 3))
    ours = _hwc(lab.rgb_to_lab(_chw(rgb)))
    assert np.abs(ours - rgb2lab(rgb)).max() < 1e-3


def test_rgb_to_lab_matches_skimage_on_cube_corners_and_greys():
    greys = np.repeat(
        np.linspace(0, 1, 8)[None, :, None], 3, axis=2
    )  # (1, 8, 3), includes the dark linear part
    for rgb in (CORNERS, greys):
        ours = _hwc(lab.rgb_to_lab(_chw(rgb)))
        assert np.abs(ours - rgb2lab(rgb)).max() < 1e-3
    # Known anchors: white is L=100, a=b=0; neutral greys have a=b=0 (to the few 1e-3
    # that the standard's 6-digit matrix and white point leave, as in scikit-image).
    white = _hwc(lab.rgb_to_lab(torch.ones(3, 1, 1)))[0, 0]
    np.testing.assert_allclose(white, [100, 0, 0], atol=1e-2)
    assert np.abs(_hwc(lab.rgb_to_lab(_chw(greys)))[..., 1:]).max() < 1e-2


def test_net_to_srgb_grey_is_the_srgb_value_of_that_grey():
    grey_rgb = torch.linspace(0, 1, 101).view(1, 1, 1, 101).expand(1, 3, 1, 101)
    L = lab.rgb_to_lab(grey_rgb)[:, :1]
    torch.testing.assert_close(lab.net_to_srgb_grey(lab.l_to_net(L)), grey_rgb[:, :1], atol=1e-5, rtol=0)


def test_rgb_to_lab_batched_leading_dims():
    rgb = torch.rand(2, 3, 3, 5, 4)  # (..., 3, H, W) with two leading dims
    out = lab.rgb_to_lab(rgb)
    assert out.shape == rgb.shape
    ref = rgb2lab(rgb[1, 2].permute(1, 2, 0).double().numpy())
    assert np.abs(_hwc(out[1, 2]) - ref).max() < 1e-3


@pytest.mark.parametrize("which", ["random", "corners"])
def test_round_trip_rgb_lab_rgb(which):
    rgb = np.random.default_rng(1).random((24, 24, 3)) if which == "random" else CORNERS
    back = _hwc(lab.lab_to_rgb(lab.rgb_to_lab(_chw(rgb))))
    assert np.abs(back - rgb).max() < 1e-4


def test_lab_to_rgb_clips_out_of_gamut():
    out = lab.lab_to_rgb(torch.tensor([50.0, 127.0, -127.0]).view(3, 1, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_rgb_to_l_equals_l_of_full_lab():
    rgb = torch.rand(3, 16, 16)
    ref = rgb2lab(rgb.permute(1, 2, 0).double().numpy())[..., 0]
    assert np.abs(lab.rgb_to_l(rgb).double().numpy() - ref).max() < 1e-3


# ----------------------------------------------------------------------------- the 313 bins


def test_ab_bins_table():
    bins = lab.AB_BINS
    assert bins.shape == (313, 2) and lab.N_BINS == 313
    assert np.all(bins % 10 == 0)
    assert bins[:, 0].min() == -90 and bins[:, 0].max() == 100
    assert bins[:, 1].min() == -110 and bins[:, 1].max() == 100
    assert len({tuple(b) for b in bins.tolist()}) == 313  # no duplicates


def _brute_force_bins(ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ab (2, N) Lab units -> (nearest bin index, squared distance to every bin) by exhaustive search."""
    d2 = ((ab.T[:, None, :].astype(np.float64) - lab.AB_BINS[None].astype(np.float64)) ** 2).sum(-1)
    return d2.argmin(1), d2


def test_ab_to_bin_is_nearest_bin_for_photo_colours():
    """Colours that sRGB photos can hold (the histogram's and L_hist's input)."""
    rgb = torch.rand(3, 120, 120, generator=torch.Generator().manual_seed(2))
    ab = lab.rgb_to_lab(rgb)[1:]
    got = lab.ab_to_bin(ab).numpy().ravel()
    want, _ = _brute_force_bins(ab.reshape(2, -1).numpy())
    np.testing.assert_array_equal(got, want)


def test_ab_to_bin_is_nearest_bin_for_random_ab():
    """The docstring's promise for any ab, including colours outside the gamut (a
    network's output can be anywhere in [-128, 128])."""
    rng = np.random.default_rng(3)
    ab = rng.uniform(-110, 110, (2, 4000)).astype(np.float32)
    got = lab.ab_to_bin(torch.from_numpy(ab).view(2, 40, 100)).numpy().ravel()
    want, d2 = _brute_force_bins(ab)
    got_d = np.sqrt(d2[np.arange(len(got)), got])
    best_d = np.sqrt(d2[np.arange(len(got)), want])
    worst = np.argmax(got_d - best_d)
    assert np.allclose(got_d, best_d, atol=1e-4), (
        f"{np.sum(~np.isclose(got_d, best_d, atol=1e-4))} of {len(got)} ab values not sent to their nearest bin; "
        f"e.g. ab={ab[:, worst]} -> bin {lab.AB_BINS[got[worst]]} ({got_d[worst]:.1f} away) "
        f"instead of {lab.AB_BINS[want[worst]]} ({best_d[worst]:.1f} away)"
    )


def test_ab_to_bin_shapes_and_bin_centres_map_to_themselves():
    centres = torch.from_numpy(lab.AB_BINS.T.copy()).view(2, 1, 313)
    np.testing.assert_array_equal(lab.ab_to_bin(centres).numpy().ravel(), np.arange(313))
    assert lab.ab_to_bin(torch.zeros(4, 2, 5, 7)).shape == (4, 5, 7)


# ----------------------------------------------------------------------------- network scaling


def test_scalings():
    assert lab.AB_SCALE == 128.0
    L = torch.tensor([0.0, 50.0, 100.0])
    np.testing.assert_allclose(lab.l_to_net(L).numpy(), [-1, 0, 1])
    ab = torch.tensor([-128.0, 38.4, 64.0])
    np.testing.assert_allclose(lab.ab_to_net(ab).numpy(), [-1.0, 0.3, 0.5])
    np.testing.assert_allclose(lab.net_to_ab(lab.ab_to_net(ab)).numpy(), ab.numpy())


def test_rgb_uint8_to_net_at_field_size():
    rgb8 = np.random.default_rng(4).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    grey, ab = lab.rgb_uint8_to_net(torch.from_numpy(rgb8).permute(0, 3, 1, 2), grey_size=64)
    assert grey.shape == (2, 1, 64, 64) and ab.shape == (2, 2, 64, 64)
    assert grey.dtype == torch.float32 and ab.dtype == torch.float32
    for i in range(2):
        ref = rgb2lab(rgb8[i] / 255.0)
        assert np.abs(grey[i, 0].double().numpy() - (ref[..., 0] - 50) / 50).max() < 2e-5
        assert np.abs(ab[i].permute(1, 2, 0).double().numpy() - ref[..., 1:] / 128).max() < 1e-5
    assert grey.min() >= -1 and grey.max() <= 1


def test_rgb_uint8_to_net_area_averages_lab_to_the_sizes():
    """128x128 input: ab is the mean of each 2x2 block's Lab ab / 128 (64x64), grey the
    mean of each 4x4 block's L (32x32), scaled to [-1, 1]."""
    rgb8 = np.random.default_rng(5).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    grey, ab = lab.rgb_uint8_to_net(torch.from_numpy(rgb8).permute(0, 3, 1, 2), grey_size=32)
    ref = rgb2lab(rgb8[0] / 255.0)
    ab_ref = ref[..., 1:].reshape(64, 2, 64, 2, 2).mean((1, 3)) / 128
    L_ref = ref[..., 0].reshape(32, 4, 32, 4).mean((1, 3))
    assert np.abs(ab[0].permute(1, 2, 0).double().numpy() - ab_ref).max() < 1e-5
    assert np.abs(grey[0, 0].double().numpy() - (L_ref - 50) / 50).max() < 2e-5


# ----------------------------------------------------------------------------- recombination


def test_combine_shape_dtype_non_square_and_keeps_L():
    H, W = 45, 70
    rgb = np.random.default_rng(6).random((H, W, 3))
    L = torch.from_numpy(rgb2lab(rgb)[..., 0]).float()
    field = torch.zeros(2, 64, 64)  # no colour: the output must be the photo's grey
    out = lab.combine(L, field)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    # a = b = 0 gives neutral grey; its L must be the photo's L (8-bit rounding aside).
    assert np.abs(out.astype(int)[..., 0] - out[..., 1]).max() <= 1
    assert np.abs(rgb2lab(out / 255.0)[..., 0] - L.numpy()).max() < 0.6


def test_combine_constant_field_gives_that_colour():
    H, W = 30, 50
    L = torch.full((H, W), 60.0)
    a, b = 25.0, -30.0
    field = torch.stack([torch.full((64, 64), a), torch.full((64, 64), b)]) / 128
    for mode in ("guided", "bilinear"):
        out = lab.combine(L, field, mode=mode)
        got = rgb2lab(out / 255.0)
        np.testing.assert_allclose(got.reshape(-1, 3).mean(0), [60, a, b], atol=0.8)
        assert got.reshape(-1, 3).std(0).max() < 0.5  # uniform


def test_combine_row_chunks_do_not_change_the_result():
    H, W = 37, 29
    L = torch.rand(H, W) * 100
    field = torch.rand(2, 64, 64) * 0.6 - 0.3
    for mode in ("guided", "bilinear"):
        a = lab.combine(L, field, mode=mode, rows_per_chunk=512)
        b = lab.combine(L, field, mode=mode, rows_per_chunk=5)
        np.testing.assert_array_equal(a, b)


def test_a_kept_preview_on_one_thread_goes_in_chunks_with_the_same_result(monkeypatch):
    """Recombiner(keep=True): one pass on several torch threads, cache-sized row chunks on one
    (the live decoders'); the pixels are the same either way."""
    H, W = 300, 1024
    L = torch.rand(H, W) * 100
    field = torch.rand(2, 64, 64) * 0.6 - 0.3
    r = lab.Recombiner(L, keep=True)
    passes: list[int] = []
    real = lab._resize_rows
    monkeypatch.setattr(lab, "_resize_rows", lambda *a: passes.append(a[-1] - a[-2]) or real(*a))
    results = {}
    for threads in (2, 1):
        monkeypatch.setattr(lab.torch, "get_num_threads", lambda n=threads: n)
        passes.clear()
        results[threads] = r(field)
        rows = lab.ONE_THREAD_CHUNK_PIXELS // W
        assert passes == ([H] if threads > 1 else [rows] * (H // rows) + [H % rows])
    np.testing.assert_array_equal(results[1], results[2])


def test_recombiner_matches_the_formulas():
    """The folded preview arithmetic (Recombiner) against the plain chain it replaces:
    upsample ab, then lab_to_rgb (checked against skimage above), for a random field over
    a random L, kept and not kept, in both modes. (skimage itself differs far out of gamut:
    it clips negative XYZ before the matrix, we clip the RGB.) The field is fitted to the
    gamut first, as the Recombiner does."""
    H, W = 53, 81
    g = torch.Generator().manual_seed(3)
    L = torch.rand(H, W, generator=g) * 100
    field = (torch.rand(2, 64, 64, generator=g) - 0.5) * 0.9
    fitted = lab.fit_gamut(field, lab.field_guide(L)[None] * 100)  # what the Recombiner renders
    for mode in ("guided", "bilinear"):
        ab = lab.upsample_ab(lab.net_to_ab(fitted), L, mode=mode)
        want = (lab.lab_to_rgb(torch.cat([L[None], ab])).permute(1, 2, 0).numpy() * 255 + 0.5).astype(int)
        for keep in (False, True):
            got = lab.Recombiner(L, mode=mode, keep=keep, rows_per_chunk=16)(field).astype(int)
            assert np.abs(got - want).max() <= 1, (mode, keep)


def test_bilinear_mode_is_plain_bilinear_interpolation():
    """upsample_ab's bilinear mode against a hand-written align_corners=False bilinear."""
    field = torch.rand(2, 64, 64) * 100 - 50
    H, W = 20, 96
    up = lab.upsample_ab(field, torch.zeros(H, W), mode="bilinear").double().numpy()

    def coords(n_out, n_in):  # pixel-centre mapping, clamped at the borders
        s = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        s = np.clip(s, 0, n_in - 1)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, s - i0

    y0, y1, fy = coords(H, 64)
    x0, x1, fx = coords(W, 64)
    f = field.double().numpy()
    ref = (
        f[:, y0][:, :, x0] * ((1 - fy)[:, None] * (1 - fx)[None])
        + f[:, y0][:, :, x1] * ((1 - fy)[:, None] * fx[None])
        + f[:, y1][:, :, x0] * (fy[:, None] * (1 - fx)[None])
        + f[:, y1][:, :, x1] * (fy[:, None] * fx[None])
    )
    assert np.abs(up - ref).max() < 1e-3


def test_unknown_upsampling_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown upsampling mode"):
        lab.upsample_ab(torch.zeros(2, 64, 64), torch.zeros(8, 8), mode="nearest")


def _edge_case(mode: str) -> tuple[float, float]:
    """A photo whose L steps from 30 to 70 at column 300 of 600, and a 64x64 field whose
    ab steps at the same place (column 32 of 64). Returns (bleed, jump): the mean ab error
    (Lab units) against each side's true colour over the 40 columns either side of the
    edge, and the ab change between columns 299 and 300."""
    H, W, edge = 200, 600, 300
    L = torch.full((H, W), 30.0)
    L[:, edge:] = 70.0
    left, right = torch.tensor([40.0, 20.0]), torch.tensor([-40.0, -30.0])
    field = torch.empty(2, 64, 64)
    field[:, :, :32] = left[:, None, None] / 128
    field[:, :, 32:] = right[:, None, None] / 128
    ab = lab.upsample_ab(lab.net_to_ab(field), L, mode=mode)
    err_l = (ab[:, :, edge - 40 : edge] - left[:, None, None]).norm(dim=0)
    err_r = (ab[:, :, edge : edge + 40] - right[:, None, None]).norm(dim=0)
    bleed = torch.cat([err_l, err_r], 1).mean().item()
    jump = (ab[:, :, edge] - ab[:, :, edge - 1]).norm(dim=0).mean().item()
    return bleed, jump


def test_guided_upsampling_keeps_colour_on_its_side_of_a_sharp_edge():
    """The point of guided upsampling (lab.guided_coefficients' docstring): colour edges
    land on the photo's own edges, so less colour bleeds across them than with bilinear."""
    bleed_g, jump_g = _edge_case("guided")
    bleed_b, jump_b = _edge_case("bilinear")
    assert bleed_g < 0.9 * bleed_b, (
        f"guided bleeds {bleed_g:.2f} Lab units near the edge, bilinear {bleed_b:.2f}"
    )
    assert jump_g > jump_b


def test_guided_upsampling_is_exact_away_from_edges():
    bleed_free = torch.full((40, 90), 55.0)
    field = torch.stack([torch.full((64, 64), 0.2), torch.full((64, 64), -0.1)])
    ab = lab.upsample_ab(lab.net_to_ab(field), bleed_free, mode="guided")
    assert ab.shape == (2, 40, 90)
    np.testing.assert_allclose(ab[0].numpy(), 0.2 * 128, atol=1e-3)
    np.testing.assert_allclose(ab[1].numpy(), -0.1 * 128, atol=1e-3)


def test_rgb8_to_l_matches_the_float_path():
    """The 8-bit path (a table for the sRGB curve) gives rgb_to_l's L: every grey level and
    random colours, including non-contiguous rows as photo_from_rgb8 passes them."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    greys = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    for img in (rgb, greys, rgb[::2, ::3]):
        want = lab.rgb_to_l(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255)
        got = lab.rgb8_to_l(img)
        assert got.shape == img.shape[:2] and got.dtype == torch.float32
        assert (got - want).abs().max().item() < 1e-4


# ----------------------------------------------------------------------------- gamut


def _linear_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Lab (L (...), ab (..., 2) in Lab units) -> linear RGB before any clipping."""
    fy = (L.double() + 16) / 116
    a, b = ab.double().unbind(-1)
    xyz = torch.stack([lab._inv_f(fy + a / 500), lab._inv_f(fy), lab._inv_f(fy - b / 200)], -1)
    return (xyz * lab._WHITE.double()) @ lab._XYZ_TO_RGB.double().T


def test_fit_gamut_leaves_a_photos_own_colours_as_they_are():
    rgb = np.random.default_rng(7).random((128, 128, 3))
    for colours in (rgb, CORNERS):  # random colours; sRGB's primaries, secondaries, black, white
        L_ab = lab.rgb_to_lab(_chw(colours))
        field = L_ab[1:] / lab.AB_SCALE
        assert torch.equal(lab.fit_gamut(field, L_ab[:1]), field)
    # sRGB's yellow is among the corners: at L ~97 its hue's ray leaves the gamut near chroma 29
    # and comes back in further out, so the table must hold the outermost edge to keep it.
    # A real photo's field (area-averaged, as training makes it) stays as it is.
    grey, ab = lab.rgb_uint8_to_net(torch.from_numpy(skimage_photo()).permute(2, 0, 1)[None], 64)
    assert (lab.fit_gamut(ab, lab.net_to_l(grey)) - ab).abs().max() * lab.AB_SCALE < 0.5


def skimage_photo() -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return (resize(data.astronaut(), (128, 128), anti_aliasing=True) * 255).astype(np.uint8)


def test_fit_gamut_brings_outside_colours_to_the_edge_keeping_hue():
    g = torch.Generator().manual_seed(4)
    L = torch.rand(3, 1, 64, 64, generator=g) * 100
    field = (torch.rand(3, 2, 64, 64, generator=g) - 0.5) * 1.6  # mostly far outside
    fitted = lab.fit_gamut(field, L)
    chroma, new_chroma = field.norm(dim=1), fitted.norm(dim=1)
    assert (new_chroma <= chroma + 1e-6).all() and (new_chroma < chroma * 0.9).float().mean() > 0.5
    kept = new_chroma > 1e-3
    hue = torch.atan2(field[:, 1], field[:, 0])
    assert torch.allclose(torch.atan2(fitted[:, 1], fitted[:, 0])[kept], hue[kept], atol=1e-4)
    lin = _linear_rgb(L[:, 0], fitted.permute(0, 2, 3, 1) * lab.AB_SCALE)
    assert lin.min() > -0.06 and lin.max() < 1.06  # on the edge, to within a table step
    # Towards black the gamut closes: at L 0.1 a tenth of a unit at most, at L 0 nothing.
    for L_dark, most in ((0.1, 0.1 * (lab._max_chroma_table().max() + lab._GAMUT_SLACK)), (0.0, 0.0)):
        dark = lab.fit_gamut(field, torch.full((3, 1, 64, 64), L_dark))
        assert dark.norm(dim=1).max() * lab.AB_SCALE <= most + 1e-4


def test_fit_gamut_edge_cases():
    # A hue a hair below 0 rounds up to a full turn; at L 99.5 and 100 it must index the table.
    field = torch.tensor([0.3, -1e-9]).view(2, 1, 1)
    for L in (99.5, 100.0):
        assert lab.fit_gamut(field, torch.full((1, 1, 1), L)).norm() * lab.AB_SCALE < 3
    assert (
        lab.fit_gamut(torch.tensor([float("nan"), 0.1]).view(2, 1, 1), torch.full((1, 1, 1), 50.0))
        .isnan()
        .all()
    )
    with pytest.raises(ValueError, match=r"\(\.\.\., 1, n, n\)"):
        lab.fit_gamut(torch.zeros(4, 2, 8, 8), torch.zeros(4, 8, 8))  # one L per image, no channel


def test_rendering_keeps_the_photos_lightness_under_a_colour_beyond_the_gamut():
    """A strong red over black and over white: clipped channel by channel it would render
    at L ~16 and ~81 (dark red, pink); fitted first, the photo keeps its lightness."""
    L = torch.cat([torch.full((20, 40), 1.5), torch.full((20, 40), 99.0)])
    field = torch.stack([torch.full((64, 64), 0.6), torch.full((64, 64), 0.3)])
    got = rgb2lab(lab.combine(L, field, mode="bilinear") / 255.0)
    dark, light = got[:8].reshape(-1, 3), got[-8:].reshape(-1, 3)  # rows away from the edge
    assert np.abs(dark[:, 0] - 1.5).max() < 1 and np.abs(light[:, 0] - 99).max() < 1
    assert (dark[:, 1] > 0).all() and (light[:, 1] > 0).all()  # still reddish: the hue is kept
