"""The model file: round trip, safe loading, and one-line errors for every bad file."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import pytest
import torch

from divcolor_gui.core import checkpoint
from divcolor_gui.core.checkpoint import ModelBundle, ModelFileError, load_model, save_model
from divcolor_gui.core.nets import MDN, VAE, ColorNet, SkipVAE
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS
from divcolor_gui.core.nets.mdn import MDN_PRESETS
from divcolor_gui.core.nets.vae import VAE_PRESETS
from divcolor_gui.core.nets.vae_skip import SKIP_VAE_PRESETS
from divcolor_gui.core.stats import DatasetStats


class NotAModel:
    """A custom class: pickling it puts a global into the file that weights_only refuses."""

    def __init__(self):
        self.payload = [1, 2, 3]


def _trained_like(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and non-default BatchNorm statistics, so a round trip is meaningful."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.1)
            else:
                t.fill_(7)  # num_batches_tracked
    return net.eval()


@pytest.fixture
def bundle() -> ModelBundle:
    stats = DatasetStats(
        ab_hist=torch.rand(313), bin_weights=torch.rand(313), pca_components=torch.rand(4, 8192),
        pca_variances=torch.tensor([4.0, 3.0, 2.0, 1.0]), weighting="raw", n_images=12,
    )  # fmt: skip
    nets = {
        "features": _trained_like(ColorNet(COLORNET_PRESETS["tiny"]), 1),
        "vae": _trained_like(VAE(VAE_PRESETS["tiny"]), 2),
        "mdn": _trained_like(MDN(MDN_PRESETS["tiny"]), 3),
        "vae_skip": _trained_like(SkipVAE(SKIP_VAE_PRESETS["tiny"]), 4),
    }
    meta = {
        "name": "unit",
        "preset": "tiny",
        "epochs": {"vae": 2},
        "history": {"vae": [{"epoch": 1, "val": {"mae": 0.1}}]},
    }
    return ModelBundle(nets=nets, stats=stats, meta=meta)


@pytest.fixture
def model_file(tmp_path, bundle) -> Path:
    path = tmp_path / "model.pt"
    save_model(bundle, path)
    return path


def _assert_one_line(err: pytest.ExceptionInfo, *needles: str) -> str:
    msg = str(err.value)
    assert msg.strip() and "\n" not in msg, f"not one line: {msg!r}"
    low = msg.lower()
    for n in needles:
        assert n.lower() in low, f"{n!r} not in {msg!r}"
    return msg


def test_round_trip_weights_configs_stats_meta(model_file, bundle):
    loaded = load_model(model_file, "cpu")
    assert set(loaded.nets) == set(bundle.nets)
    for role, net in bundle.nets.items():
        got = loaded.nets[role]
        assert type(got) is type(net)
        assert got.cfg == net.cfg  # the configs are rebuilt, nested ones and tuples included
        assert not got.training
        want = net.state_dict()
        for k, v in got.state_dict().items():
            assert v.dtype == want[k].dtype
            torch.testing.assert_close(v, want[k], rtol=0, atol=0)
    for f in ("ab_hist", "bin_weights", "pca_components", "pca_variances"):
        torch.testing.assert_close(getattr(loaded.stats, f), getattr(bundle.stats, f), rtol=0, atol=0)
    assert (loaded.stats.weighting, loaded.stats.n_images) == ("raw", 12)
    assert loaded.meta == bundle.meta


def test_loaded_networks_compute_the_same_outputs(model_file, bundle):
    loaded = load_model(model_file)
    z = torch.randn(2, VAE_PRESETS["tiny"].z_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.nets["vae"].decode(z), bundle.nets["vae"].decode(z))


def test_half_storage_loads_as_float32_close(tmp_path, bundle):
    path = tmp_path / "half.pt"
    save_model(bundle, path, half=True)
    raw = torch.load(path, weights_only=True)
    w = raw["nets"]["vae"]["state"]["decoder.out.1.weight"]
    assert w.dtype == torch.float16
    counters = [v for k, v in raw["nets"]["vae"]["state"].items() if k.endswith("num_batches_tracked")]
    assert counters and all(v.dtype == torch.int64 for v in counters)  # integers stay integers
    loaded = load_model(path)
    for role, net in bundle.nets.items():
        want = net.state_dict()
        for k, v in loaded.nets[role].state_dict().items():
            if want[k].is_floating_point():
                assert v.dtype == torch.float32
                torch.testing.assert_close(v, want[k], rtol=1e-3, atol=1e-3)
            else:
                assert torch.equal(v, want[k])


def test_half_storage_is_about_half_the_size(tmp_path, bundle):
    bundle.stats = None  # the statistics are stored in float32 either way: compare the networks
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    save_model(bundle, full)
    save_model(bundle, half, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size


def test_file_is_plain_data_for_weights_only_loading(model_file):
    obj = torch.load(model_file, map_location="cpu", weights_only=True)
    assert obj["format"] == "divcolor-model" and obj["version"] == 1
    assert obj["nets"]["vae"]["class"] == "VAE"
    assert obj["nets"]["vae"]["config"]["z_dim"] == VAE_PRESETS["tiny"].z_dim


def test_atomic_save_keeps_the_old_file_when_writing_fails(model_file, bundle, monkeypatch):
    before = model_file.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(bundle, model_file)
    assert model_file.read_bytes() == before
    assert [p.name for p in model_file.parent.iterdir()] == [model_file.name]  # no temporary left behind


# ----------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError) as err:
        load_model(tmp_path / "nope.pt")
    _assert_one_line(err, "nope.pt", "no such")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "noise.pt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "empty.pt", "the file is empty")


@pytest.mark.parametrize("keep", [0.1, 0.25, 0.5, 0.9, -1])
def test_truncated_model_says_truncated(tmp_path, model_file, keep):
    """A model cut short (an interrupted copy or download): the first 10%, 25%, half,
    90% of a real model, or all but its last byte."""
    data = model_file.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    msg = _assert_one_line(err, "cut.pt")
    assert "truncated" in msg or "corrupt" in msg, f"a cut-short model should be called truncated: {msg!r}"
    assert len(msg) < 250, msg


def test_foreign_tensor_file(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "tensor.pt", "not a divcolor model")


def test_foreign_dict_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "other.pt", "not a divcolor model")


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_pickle_of_a_custom_class_is_refused(tmp_path, how):
    path = tmp_path / "evil.pt"
    if how == "pickle":
        with open(path, "wb") as f:
            pickle.dump(NotAModel(), f)
    else:
        torch.save({"format": "divcolor-model", "version": 1, "nets": {"x": NotAModel()}}, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "evil.pt")


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_refused_pickle_message_is_ours_not_torchs_boilerplate(tmp_path, how):
    """The reason in brackets should say what was refused, not torch's advice to file an
    issue or to re-run with weights_only=False (which a user must never do with a stranger's file)."""
    path = tmp_path / "evil.pt"
    if how == "pickle":
        with open(path, "wb") as f:
            pickle.dump(NotAModel(), f)
    else:
        torch.save({"nets": NotAModel()}, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    msg = _assert_one_line(err, "evil.pt")
    assert "file an issue" not in msg.lower() and "weights_only" not in msg, msg


def test_future_version(tmp_path, bundle):
    obj = checkpoint.bundle_to_dict(bundle)
    obj["version"] = 99
    path = tmp_path / "future.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "future.pt", "99", "newer")


def test_unknown_network_class(tmp_path, bundle):
    obj = checkpoint.bundle_to_dict(bundle)
    obj["nets"]["vae"]["class"] = "Transformer"
    path = tmp_path / "unknown.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "unknown.pt", "Transformer")


def test_weights_that_do_not_fit_the_config(tmp_path, bundle):
    obj = checkpoint.bundle_to_dict(bundle)
    obj["nets"]["vae"]["config"]["z_dim"] = 32  # the state is for z_dim 16
    path = tmp_path / "mismatch.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "mismatch.pt", "VAE")


def test_unknown_config_setting(tmp_path, bundle):
    obj = checkpoint.bundle_to_dict(bundle)
    obj["nets"]["mdn"]["config"]["attention_heads"] = 4
    path = tmp_path / "newer_cfg.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    _assert_one_line(err, "newer_cfg.pt", "attention_heads")


def _first_weights(obj: dict, role: str) -> torch.Tensor:
    return next(v for v in obj["nets"][role]["state"].values() if v.is_floating_point())


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda o: o["nets"]["vae"]["config"].update(z_dim=-5), "VAE config cannot be built"),
        (lambda o: _first_weights(o, "vae").fill_(math.nan), "NaN"),
        (lambda o: o.update(meta="notes"), "meta"),
        (lambda o: o.update(version="1"), "not a divcolor model file"),
    ],
    ids=["negative-size", "nan-weights", "meta-not-a-dict", "version-a-string"],
)
def test_a_damaged_model_dict_is_one_line_naming_the_file(tmp_path, bundle, change, says):
    """Not a traceback from deep in the network's constructor or the rendering, nor a message
    about "a newer divcolor" for a version that is not a number."""
    obj = checkpoint.bundle_to_dict(bundle)
    change(obj)
    path = tmp_path / "damaged.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    msg = _assert_one_line(err, "damaged.pt", says)
    assert "newer" not in msg


# ----------------------------------------------------------------------------- devices


def test_cpu_saved_model_loads_on_cpu(model_file):
    loaded = load_model(model_file, "cpu")
    for net in loaded.nets.values():
        assert all(p.device.type == "cpu" for p in net.parameters())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_saved_model_loads_on_cuda(model_file, bundle):
    loaded = load_model(model_file, "cuda")
    vae = loaded.nets["vae"]
    assert all(p.device.type == "cuda" for p in vae.parameters())
    z = torch.randn(2, VAE_PRESETS["tiny"].z_dim)
    with torch.no_grad():
        torch.testing.assert_close(
            vae.decode(z.cuda()).cpu(), bundle.nets["vae"].decode(z), rtol=1e-4, atol=1e-4
        )
