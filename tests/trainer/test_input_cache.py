"""The MDN stage's per-photo inputs, computed once while the trunk and the VAE are frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divcolor_gui.core.checkpoint import load_model
from divcolor_gui.core.nets.colornet import ColorNet
from trainer.input_cache import InputCache
from trainer.loop import Progress
from trainer.run import TrainConfig, run_training


def _batch(idx, flips):
    """A grey batch whose every pixel names its photo and flip, and an ab batch beside it."""
    v = torch.tensor([i + 0.5 * f for i, f in zip(idx, flips)], dtype=torch.float32)
    return v[:, None, None, None].expand(-1, 1, 2, 2).clone(), v[:, None, None, None].expand(
        -1, 2, 2, 2
    ).clone()


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach() for k, p in net.named_parameters()}


def _compute(log):
    def compute(grey, ab):
        log.extend(grey[:, 0, 0, 0].tolist())
        return grey.flatten(1) * 2, ab.mean((1, 2, 3))[:, None] + 1

    return compute


def test_each_photo_is_computed_once_each_way_round():
    cache, log = InputCache(6), []
    for idx, flips in (([0, 1, 2], [0, 0, 1]), ([1, 2, 2, 4], [0, 0, 1, 0]), ([4, 0], [0, 0])):
        keys = (np.array(idx), np.array(flips, dtype=bool))
        grey, ab = _batch(idx, flips)
        got = cache.get(keys, grey, ab, _compute(log))
        want = _compute([])(grey, ab)
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    # photo 2 flipped and not, and 4, were new in the second batch; nothing in the third
    assert log == [0.0, 1.0, 2.5, 2.0, 4.0]


def test_inputs_too_large_to_keep_are_computed_every_time():
    cache, log = InputCache(6, max_bytes=8), []
    for _ in range(2):
        keys = (np.array([0, 1]), np.array([False, False]))
        cache.get(keys, *_batch([0, 1], [0, 0]), _compute(log))
    assert log == [0.0, 1.0, 0.0, 1.0]
    assert cache.tables is None


def test_a_frozen_trunk_trains_the_same_mdn_with_fewer_forward_passes(
    trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """Two MDN epochs on a finished model's frozen feature network and VAE: with the cache
    the trunk sees each training photo once per way round it is drawn (fewer photos in
    all than two epochs' worth), and the MDN learns what it learns without: exactly in the
    first epoch, where every input is computed on its whole batch, and up to rounding in
    the second (a trunk's output on part of a batch differs in the last bits)."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    seen = []
    plain_features = ColorNet.features

    def counted(self, grey):
        seen.append(len(grey))
        return plain_features(self, grey)

    monkeypatch.setattr(ColorNet, "features", counted)

    def train(name):
        seen.clear()
        cfg = TrainConfig(
            data=trained_model.folder.root, out=tmp_path / name, preset="tiny", epochs={"mdn": 2},
            batch_size=8, device="cpu", stages=("mdn",), features_from=trained_model.path,
            vae_from=trained_model.path, mdn_from=trained_model.path, mdn_loss="winner",
        )  # fmt: skip
        records, _ = run_to_end(run_training(cfg))
        return [r.val for r in records if isinstance(r, Progress) and r.kind == "epoch"], sum(seen)

    cached, n_cached = train("cached.pt")
    monkeypatch.setattr("trainer.stages.InputCache", lambda n: InputCache(n, max_bytes=0))
    plain, n_plain = train("plain.pt")

    split = load_model(trained_model.path).meta["split"]
    n_train, n_val = split["n_train"], split["n_val"]
    assert n_plain == 2 * (n_train + n_val)
    assert 2 * n_val + n_train <= n_cached < n_plain
    assert len(cached) == len(plain) == 2
    assert cached[0] == plain[0]
    assert cached[1]["loss"] == pytest.approx(plain[1]["loss"], rel=1e-2)
    assert cached[1]["eob"] == pytest.approx(plain[1]["eob"], rel=1e-2)
