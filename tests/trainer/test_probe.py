"""The feature read-out (`divcolor eval --probe`, trainer/probe.py)."""

from __future__ import annotations

import json
import math

import torch

from divcolor_gui.cli import main
from divcolor_gui.core.checkpoint import ModelBundle, load_model, save_model
from divcolor_gui.core.colorizer import Colorizer
from trainer.probe import feature_probe, ridge_readout


def _fields(coef: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    return coef @ basis  # (n, 8192) fields in a 4-d subspace


def test_readout_recovers_colours_that_the_features_determine():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(2 * 64 * 64, 4, generator=g))[0].T * 3  # 4 colour patterns
    feats = torch.randn(400, 32, generator=g)
    mix = torch.randn(32, 4, generator=g) * 0.1
    Y = _fields(feats @ mix, basis)  # colours are a linear function of the features
    r = ridge_readout(feats[:300], Y[:300], feats[300:], Y[300:])
    assert r["n_components"] == 64 and r["feature_dim"] == 32
    assert r["pca_mae"] < 1e-4  # the fields live in 4 dimensions
    assert r["probe_mae"] < 0.2 * r["grey_mae"]  # ridge shrinks by about lambda / (n + lambda)


def test_readout_of_uninformative_features_is_no_better_than_grey():
    g = torch.Generator().manual_seed(1)
    basis = torch.linalg.qr(torch.randn(2 * 64 * 64, 4, generator=g))[0].T * 3
    Y = _fields(torch.randn(400, 4, generator=g) * 0.1, basis)
    noise = torch.randn(400, 32, generator=g)  # unrelated to the colours
    r = ridge_readout(noise[:300], Y[:300], noise[300:], Y[300:])
    assert r["probe_mae"] > 0.9 * r["grey_mae"]


def test_probe_on_a_trained_model(trained_model, divcolor_home, monkeypatch, run_to_end):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    c = Colorizer.load(trained_model.path, "cpu")
    steps, r = run_to_end(feature_probe(c.features, trained_model.folder.root, val_fraction=0.2, name=c.name))
    assert steps[-1] == (3, 3)
    assert r["n_val"] >= 1 and r["n_train"] + r["n_val"] == len(trained_model.folder.colour)
    for key in ("probe_mae", "probe_train_mae", "pca_mae", "grey_mae"):
        assert math.isfinite(r[key]) and r[key] >= 0
    assert r["model"] == c.name


def test_eval_probe_scores_a_feature_network_alone(
    trained_model, divcolor_home, tmp_path, monkeypatch, capsys
):
    """A model file from `train --stages features` is judged by --probe before any MDN exists;
    without --probe it is refused in one line that names the option."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    full = load_model(trained_model.path)
    alone = tmp_path / "features_only.pt"
    save_model(ModelBundle({"features": full.nets["features"]}, None, dict(full.meta)), alone)
    out = tmp_path / "probe.json"
    data = str(trained_model.folder.root)

    assert main(["eval", "--data", data, "--model", str(alone), "--probe", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert "eob" not in r and math.isfinite(r["probe_mae"]) and r["grey_mae"] > 0
    assert "feature read-out MAE" in capsys.readouterr().out

    assert main(["eval", "--data", data, "--model", str(alone)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no 'vae' network" in err[0] and "--probe" in err[0]
