"""The paper's baselines (CVAE, cGAN), their test-time sampling, k-means, per-pixel
sampling, and the method comparison (Tables 1-3, Figure 7) end to end on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from divcolor_gui.cli import main
from divcolor_gui.core import lab
from divcolor_gui.core.checkpoint import load_model, net_from_entry, net_to_entry, read_model_dict
from divcolor_gui.core.kmeans import kmeans
from divcolor_gui.core.nets import NETWORKS
from divcolor_gui.core.nets.cgan import CGAN, CGAN_PRESETS, UNET_PRESETS, UNetConfig, UNetGenerator
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from trainer import baselines
from trainer.compare import compare, make_figure
from trainer.methods import METHODS
from trainer.run import TrainConfig, TrainingError, read_resume_states, resume_path, run_training
from trainer.stages import annealed_mean

torch.set_num_threads(1)


def _roughness(x: torch.Tensor) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring pixels."""
    return float((x[..., 1:] - x[..., :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean())


# ----------------------------------------------------------------------------- cGAN network


def test_cgan_shapes_registry_and_round_trip():
    net = CGAN(CGAN_PRESETS["tiny"]).eval()
    grey = torch.rand(3, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        ab = net(grey)
        patches = net.discriminator(grey, ab)
    assert ab.shape == (3, 2, 64, 64)
    assert ab.abs().max() < 1  # tanh: ab/128 in (-1, 1)
    assert patches.shape == (3, 1, 6, 6)  # the 70x70 PatchGAN's map on a 64x64 input
    for name in ("CGAN", "UNetGenerator", "PatchDiscriminator"):
        assert name in NETWORKS
    # The model file rebuilds both halves from the class name and the config alone.
    back = net_from_entry(net_to_entry(net))
    assert isinstance(back, CGAN) and back.cfg == net.cfg
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_cgan_dropout_stays_on_at_test_time():
    torch.manual_seed(0)
    gen = UNetGenerator(UNET_PRESETS["tiny"])
    for m in gen.modules():  # PyTorch's default init instead of pix2pix's N(0, .02): larger signals
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.reset_parameters()
    gen.eval()
    grey = torch.rand(1, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        a, b = gen(grey), gen(grey)
    # Small but real: pix2pix's dropout sits in the innermost layers, and the skips carry
    # most of the output (the paper's cGAN variance is 8.4e-6).
    assert (a - b).abs().mean() > 1e-5, "eval() must not switch the cGAN's noise off"
    # Dropout is the only noise: without it two passes agree exactly.
    quiet = UNetGenerator(UNetConfig(widths=UNET_PRESETS["tiny"].widths, dropout=0.0))
    quiet.load_state_dict(gen.state_dict())
    quiet.eval()
    with torch.no_grad():
        assert torch.equal(quiet(grey), quiet(grey))
    samples = baselines.cgan_samples(gen, grey, n=16, chunk=5)  # chunks of 5, 5, 5, 1
    assert samples.shape == (16, 2, 64, 64)
    assert samples.var(0).mean() > 1e-10


def test_cvae_is_a_skip_vae_with_conditioned_encoder():
    net = METHODS["cvae"].new_net("cvae", "tiny")
    assert net.cfg.condition_encoder
    assert net.encoder.convs[0][0].in_channels == 3  # ab + grey
    grey = torch.rand(1, 1, 64, 64) * 2 - 1
    s = baselines.cvae_samples(net.eval(), grey, n=8, generator=torch.Generator().manual_seed(0))
    s2 = baselines.cvae_samples(net, grey, n=8, generator=torch.Generator().manual_seed(0))
    assert s.shape == (8, 2, 64, 64) and torch.equal(s, s2)


# ----------------------------------------------------------------------------- k-means


def test_kmeans_two_clusters_by_hand():
    big = torch.tensor([[0.0, 0.0], [0.2, 0.0], [0.0, 0.2], [-0.2, 0.0], [0.0, -0.2], [0.1, 0.1]])
    small = torch.tensor([[10.0, 10.0], [10.4, 10.0], [10.0, 10.4], [10.2, 10.2]])
    x = torch.cat([small, big])  # the small cluster first: the result still lists the big one first
    res = kmeans(x, 2, seed=3)
    assert res.counts.tolist() == [6, 4]
    torch.testing.assert_close(res.centres[0], big.mean(0))
    torch.testing.assert_close(res.centres[1], small.mean(0))
    assert res.labels.tolist() == [1] * 4 + [0] * 6
    for seed in (0, 1, 2):  # the partition does not depend on the seed here; the result is repeatable
        other = kmeans(x, 2, seed=seed)
        torch.testing.assert_close(other.centres, res.centres)
        assert torch.equal(other.labels, res.labels)


def test_kmeans_degenerate_inputs():
    same = torch.ones(10, 4)
    res = kmeans(same, 3)  # every point equal: defined, no NaN
    assert res.counts.sum() == 10 and torch.isfinite(res.centres).all()
    torch.testing.assert_close(res.centres, torch.ones(3, 4))
    with pytest.raises(ValueError):
        kmeans(torch.zeros(2, 3), 5)
    # Clustering samples gives the k diverse fields, each the mean of its cluster.
    fields = torch.cat([torch.full((7, 2, 64, 64), 0.2), torch.full((3, 2, 64, 64), -0.3)])
    centres = baselines.cluster_diverse(fields, k=2)
    assert centres.shape == (2, 2, 64, 64)
    assert torch.allclose(centres[0], torch.tensor(0.2)) and torch.allclose(centres[1], torch.tensor(-0.3))


# ----------------------------------------------------------------------------- per-pixel sampling


def test_per_pixel_sampling_is_noisier_than_the_annealed_mean():
    torch.manual_seed(0)
    net = ColorNet(COLORNET_PRESETS["tiny"]).eval()
    grey = torch.rand(2, 1, 64, 64) * 2 - 1
    g = torch.Generator().manual_seed(1)
    s = baselines.per_pixel_samples(net, grey, n=4, generator=g)
    assert s.shape == (2, 4, 2, 64, 64)
    assert s.abs().max() <= 110 / 128 + 1e-6  # within the in-gamut bins
    again = baselines.per_pixel_samples(net, grey, n=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s, again)
    with torch.no_grad():
        mean = annealed_mean(net(grey), T=0.38)
    mean = torch.nn.functional.interpolate(mean, size=(64, 64), mode="bilinear", align_corners=False)
    assert _roughness(s) > 2 * _roughness(mean)
    assert s.var(1).mean() > 0  # independent draws differ


# ----------------------------------------------------------------------------- end to end


def _make_folder(root: Path, n: int = 24, size: int = 96) -> Path:
    """Smooth colourful gradients with a disc: clearly colour photos."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        img = (
            rng.uniform(40, 215, 3)
            + xx[..., None] * rng.uniform(-80, 80, 3)
            + yy[..., None] * rng.uniform(-80, 80, 3)
        )
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.25)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"photo_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny ours, cvae and cgan models, one epoch each, on 24 generated photos."""
    tmp = tmp_path_factory.mktemp("baselines")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIVCOLOR_HOME", str(tmp / "home"))  # the data cache goes here
        data = _make_folder(tmp / "photos")
        common = ["--data", str(data), "--preset", "tiny", "--batch-size", "8", "--epochs", "1"]
        models = {"ours": tmp / "ours.pt", "cvae": tmp / "cvae.pt", "cgan": tmp / "cgan.pt"}
        for method, out in models.items():
            assert main(["train", *common, "--out", str(out), "--method", method]) == 0
        yield data, models, tmp


def test_baselines_train_their_roles(trained):
    data, models, tmp = trained
    cvae = read_model_dict(models["cvae"])
    assert list(cvae["nets"]) == ["cvae"] and cvae["meta"]["method"] == "cvae"
    assert cvae["meta"]["epochs"] == {"cvae": 1}
    assert cvae["meta"]["baseline"]["cvae"]["loss_weights"]["l2"] == 1.0
    cgan = read_model_dict(models["cgan"])
    assert list(cgan["nets"]) == ["cgan"] and cgan["meta"]["epochs"] == {"cgan": 1}
    assert cgan["meta"]["baseline"]["cgan"]["lr"] == pytest.approx(2e-4)
    assert any(k.startswith("discriminator.") for k in cgan["nets"]["cgan"]["state"])
    for role, f in (("cvae", models["cvae"]), ("cgan", models["cgan"])):
        hist = read_model_dict(f)["meta"]["history"][role]
        assert len(hist) == 1 and all(np.isfinite(v) for v in hist[0]["val"].values())
    # The discriminator's Adam state survives with the generator's in the resume file.
    states = read_resume_states(resume_path(models["cgan"]), "cpu")
    n_params = sum(1 for _ in load_model(models["cgan"]).nets["cgan"].parameters())
    assert len(states["cgan"]["optimizer"]["state"]) == n_params
    assert states["cgan"]["optimizer"]["param_groups"][0]["betas"] == (0.5, 0.999)


def test_resume_refuses_another_method_and_unknown_methods(trained, tmp_path):
    data, models, _ = trained
    gen = run_training(TrainConfig(data=data, out=models["cgan"], preset="tiny", resume=True, method="cvae"))
    with pytest.raises(TrainingError, match="cgan"):
        next(gen)
    with pytest.raises(TrainingError, match="unknown method"):
        next(run_training(TrainConfig(data=data, out=tmp_path / "x.pt", preset="tiny", method="vqgan")))


def _run(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_compare_tables_and_figure(trained, monkeypatch):
    data, models, tmp = trained
    monkeypatch.setenv("DIVCOLOR_HOME", str(tmp / "home"))
    fig = tmp / "figure7.png"
    methods = {**models, "per-pixel": models["ours"]}
    result = _run(compare(methods, data, split="all", n_samples=32, batch_size=16, figure=fig, figure_rows=3))
    assert result["n_images"] == 24 and result["split"] == "all"
    for name, r in result["methods"].items():
        assert {"eob", "var", "top1_mae"} <= set(r), name
        assert np.isfinite(r["eob"]) and r["var"] >= 0
        assert r["eob"] <= r["top1_mae"] + 1e-7  # the best of k is no worse than the first
    assert "vae_mae" in result["methods"]["cvae"] and "vae_wmae_grid" in result["methods"]["ours"]
    assert "vae_mae" not in result["methods"]["cgan"]  # no colour encoder, no Table 1
    assert result["methods"]["per-pixel"]["var"] > 10 * result["methods"]["ours"]["var"]
    json.dumps(result)  # the CLI writes it as JSON

    # Layout: 4 groups of 5 tiles and the GT column, 3 rows of 96-pixel tiles, a label band.
    img = np.asarray(Image.open(fig).convert("RGB"))
    group = 5 * 96 + 4 * 2
    assert img.shape == (24 + 3 * 96 + 2 * 2 + 10, 4 * group + 96 + 6 * 10, 3)
    assert result["figure"] == str(fig)
    # The GT tile is the photo itself (its L, its ab at 64x64): compare with the original.
    gt = img[24 : 24 + 96, -10 - 96 : -10].astype(float)
    orig = np.asarray(Image.open(data / "photo_00.png").resize((96, 96), Image.BICUBIC)).astype(float)
    assert np.abs(gt - orig).mean() < 12
    assert (img[24:120, 10 : 10 + 96] < 250).any()  # tiles are pasted, not blank
    assert (img[:24].min(axis=2) < 128).any()  # the labels are drawn


def test_make_figure_pure(tmp_path):
    L = torch.full((2, 32, 32), 60.0)
    cols = {"A": torch.zeros(2, 3, 2, 64, 64), "B": torch.full((2, 1, 2, 64, 64), 0.3)}
    out = make_figure(tmp_path / "f.png", L, cols, torch.zeros(2, 2, 64, 64), gap=1, group_gap=4)
    w, h = Image.open(out).size
    assert (w, h) == ((3 * 32 + 2) + 32 + 32 + 4 * 4, 18 + 2 * 32 + 1 + 4)
    px = np.asarray(Image.open(out).convert("RGB"))
    b_tile = px[18:50, 4 + 98 + 4 : 4 + 98 + 4 + 32].reshape(-1, 3).mean(0)
    ref = lab.lab_to_rgb(torch.tensor([60.0, 0.3 * 128, 0.3 * 128]).view(3, 1, 1)).flatten() * 255
    assert np.abs(b_tile - ref.numpy()).max() < 3  # the field's colour over the given L


def test_cli_eval_methods(trained, monkeypatch, capsys):
    data, models, tmp = trained
    monkeypatch.setenv("DIVCOLOR_HOME", str(tmp / "home"))
    out = tmp / "cmp.json"
    argv = [
        "eval", "--data", str(data), "--split", "all", "--max-images", "6", "--samples", "16",
        "--methods", "cvae,cgan", "--model-cvae", str(models["cvae"]), "--model-cgan", str(models["cgan"]),
        "--paper", "faces", "--json", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "CVAE" in text and "cGAN" in text and "0.031" in text and "8.4e-06" in text  # paper's LFW row
    assert set(json.loads(out.read_text())["methods"]) == {"cvae", "cgan"}
    assert main(["eval", "--data", str(data), "--methods", "cgan"]) == 2  # no --model-cgan
    assert "needs --model-cgan" in capsys.readouterr().err
