"""The inference API on the model trained in conftest, checked against the networks
called directly, and `trainer.evaluate` against metrics computed here by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divcolor_gui.core import lab
from divcolor_gui.core.checkpoint import ModelBundle, ModelFileError, load_model
from divcolor_gui.core.colorizer import Colorizer
from divcolor_gui.core.photo import photo_from_rgb8
from trainer.data import scan_folder
from trainer.evaluate import evaluate

H, W = 70, 130  # a non-square photo


@pytest.fixture(scope="module")
def colorizer(trained_model) -> Colorizer:
    return Colorizer.load(trained_model.path, "cpu")


@pytest.fixture(scope="module")
def photo(photo_factory):
    return photo_from_rgb8(photo_factory(H, W, seed=555))


def test_load(colorizer, trained_model):
    assert colorizer.device == torch.device("cpu")
    assert colorizer.z_dim == 16 and colorizer.grey_size == 64
    assert colorizer.name == "tiny" and colorizer.source == trained_model.path


def test_analyze(colorizer, photo):
    a = colorizer.analyze(photo)
    assert a.weights.shape == (8,) and a.means.shape == (8, 16)
    assert float(a.weights.sum()) == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(a.weights) <= 0)
    # By hand: grey input -> frozen features -> MDN -> softmax, components sorted by weight.
    with torch.no_grad():
        L = torch.nn.functional.interpolate(photo.L[None, None], size=(64, 64), mode="area")
        logits, means = colorizer.mdn(colorizer.features.features((L - 50) / 50))
    pi = torch.softmax(logits[0].double(), 0).numpy()
    order = np.argsort(-pi, kind="stable")
    np.testing.assert_allclose(a.weights, pi[order], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(a.means, means[0, torch.from_numpy(order)])


def test_analyze_a_path(colorizer, trained_model):
    a = colorizer.analyze(trained_model.folder.root / trained_model.folder.colour[0])
    assert a.photo.size == (96, 96) and a.seconds >= 0


def test_decode_batch(colorizer):
    z = torch.randn(5, 16)
    fields = colorizer.decode(z)
    assert fields.shape == (5, 2, 64, 64) and fields.device.type == "cpu" and fields.dtype == torch.float32
    assert fields.abs().max() < 1
    with torch.no_grad():
        torch.testing.assert_close(colorizer.decode(z, exact=True), colorizer.vae.decoder(z))
    assert colorizer.decode(z[0].numpy()).shape == (1, 2, 64, 64)  # one latent, as numpy


@pytest.mark.parametrize("has_bf16", [False, True])
def test_colours_shown_decode_in_bfloat16_only_where_the_cpu_has_it(trained_model, monkeypatch, has_bf16):
    """The decoder for what is shown runs its trunk in bfloat16 on such a CPU; the model's
    own networks (what evaluation reads) and `exact` decoding stay float32."""
    monkeypatch.setattr("divcolor_gui.core.colorizer.cpu_has_bfloat16", lambda: has_bf16)
    c = Colorizer.load(trained_model.path, "cpu")
    assert c.bundle.nets["vae"].decoder.c8[1][0].weight.dtype == torch.float32
    z = torch.randn(3, 16)
    exact = load_model(trained_model.path, "cpu").nets["vae"].eval()
    with torch.no_grad():
        want = exact.decode(z)
    torch.testing.assert_close(c.decode(z, exact=True), want)
    shown = (c.decode(z) - want).abs().max() * 128  # ab units
    assert (0 < shown < 2) if has_bf16 else shown < 1e-4


def test_render_full_resolution(colorizer, photo):
    a = colorizer.analyze(photo)
    field = colorizer.decode(a.means[:1])[0]
    rgb = colorizer.render(a, field)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, lab.combine(photo.L, field))
    preview = colorizer.render(a, field, max_side=65)
    assert max(preview.shape[:2]) == 65 and preview.shape[2] == 3
    assert colorizer.render(photo, field, mode="bilinear").shape == (H, W, 3)


def test_colorize_top_k(colorizer, photo):
    a, results = colorizer.colorize(photo, k=3)
    assert len(results) == 3
    weights = [w for w, _ in results]
    np.testing.assert_allclose(weights, a.weights[:3], rtol=1e-6)
    assert all(img.shape == (H, W, 3) for _, img in results)
    _, all_of_them = colorizer.colorize(photo, k=50)
    assert len(all_of_them) == 8  # capped at the mixture's K


def test_sample(colorizer, photo):
    a = colorizer.analyze(photo)
    s1 = colorizer.sample(a, component=2, n=4000, seed=3)
    s2 = colorizer.sample(a, component=2, n=4000, seed=3)
    assert s1.shape == (4000, 16) and torch.equal(s1, s2)
    torch.testing.assert_close(s1.mean(0), a.means[2], atol=0.03, rtol=0)
    assert s1.std(0).mean().item() == pytest.approx(0.1**0.5, rel=0.05)  # the fixed variance 0.1
    assert colorizer.sample(a, 0, 4000, scale=2.0, seed=1).std(0).mean().item() == pytest.approx(
        2 * 0.1**0.5, rel=0.05
    )


def test_a_model_without_mdn_cannot_colorize(trained_model):
    bundle = load_model(trained_model.path)
    del bundle.nets["mdn"]
    with pytest.raises(ModelFileError, match="mdn"):
        Colorizer(ModelBundle(bundle.nets, bundle.stats, bundle.meta), torch.device("cpu"))


def test_evaluate_against_hand_computed_metrics(
    colorizer, trained_model, divcolor_home, monkeypatch, run_to_end
):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    progress, result = run_to_end(evaluate(colorizer, trained_model.folder.root, split="all", k=5))
    assert progress[-1] == (30, 30)
    assert result["n_images"] == 30 and result["split"] == "all"
    _, data = run_to_end(scan_folder(trained_model.folder.root, size=64))
    x = torch.from_numpy(np.array(data.images)).permute(0, 3, 1, 2)  # a copy: the cache is a read-only map
    grey, ab = lab.rgb_uint8_to_net(x, 64)
    vae, mdn, feats = colorizer.vae, colorizer.mdn, colorizer.features
    mae, eob, var, chroma_top1 = [], [], [], []
    with torch.no_grad():
        for i in range(len(x)):
            mu, _ = vae.encoder(ab[i : i + 1])
            rec = vae.decoder(mu)[0].numpy()
            truth = ab[i].numpy()
            mae.append(np.abs(rec - truth).mean())
            logits, means = mdn(feats.features(grey[i : i + 1]))
            top = np.argsort(-logits[0].numpy(), kind="stable")[:5]
            dec = vae.decoder(means[0, torch.from_numpy(top)]).numpy()  # (5, 2, 64, 64)
            eob.append(min(np.abs(d - truth).mean() for d in dec))
            var.append(dec.var(0).mean())
            chroma_top1.append(np.hypot(dec[0, 0], dec[0, 1]).mean() * 128)
    assert result["vae_mae"] == pytest.approx(np.mean(mae), rel=1e-4)
    assert result["eob"] == pytest.approx(np.mean(eob), rel=1e-4)
    assert result["var"] == pytest.approx(np.mean(var), rel=1e-3)
    assert result["chroma_top1"] == pytest.approx(np.mean(chroma_top1), rel=1e-4)
    truth = np.hypot(ab[:, 0].numpy(), ab[:, 1].numpy()).mean() * 128
    assert result["chroma_true"] == pytest.approx(truth, rel=1e-4)
    assert result["eob"] <= result["top1_mae"] + 1e-7


def test_evaluate_auto_split_uses_the_validation_photos(
    colorizer, trained_model, divcolor_home, monkeypatch, run_to_end
):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    _, result = run_to_end(evaluate(colorizer, trained_model.folder.root))
    assert result["split"] == "val"
    assert result["n_images"] == colorizer.bundle.meta["split"]["n_val"]
