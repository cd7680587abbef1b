"""--ranking decoded: the MDN's weights refitted to the component whose colours come nearest."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import torch

from divcolor_gui.core.checkpoint import load_model
from divcolor_gui.core.model_card import model_card_text
from trainer.loop import Progress
from trainer.ranking import CHROMA_WEIGHT, STAGE, fit_readout, ranking_targets
from trainer.run import TrainConfig, run_training


def test_fit_readout_learns_which_component_is_best():
    # The best component is a linear function of the features: the fit must find it.
    g = torch.Generator().manual_seed(0)
    K, D, n = 8, 24, 2000
    H = torch.randn(n, D, generator=g)
    W_true = torch.randn(K, D, generator=g) * 3
    best = (H @ W_true.T).argmax(1)
    W, b = fit_readout(H[:1600], best[:1600], torch.zeros(K, D), torch.zeros(K), weight_decay=1e-4)
    held = ((H[1600:] @ W.T + b).argmax(1) == best[1600:]).float().mean().item()
    assert held > 0.85, held
    start = ((H[1600:] @ torch.zeros(K, D).T).argmax(1) == best[1600:]).float().mean().item()
    assert start < 0.3  # it had everything to learn


def test_targets_prefer_the_truths_colourfulness_at_equal_error():
    err = torch.tensor([[0.05, 0.05, 0.04]])
    chroma = torch.tensor([[0.02, 0.11, 0.02]])
    truth = torch.tensor([0.12])
    t = ranking_targets(err, chroma, truth)
    assert t[0, 1] < t[0, 0]  # as near, and as colourful as the truth
    torch.testing.assert_close(t[0, 0] - t[0, 1], torch.tensor(CHROMA_WEIGHT * 0.09))
    assert t.argmin(1).item() == 1


def test_ranking_refits_only_the_weights_once(trained_model, tmp_path, monkeypatch, run_to_end):
    out = tmp_path / "ranked.pt"
    shutil.copy(trained_model.path, out)
    before = load_model(out).nets["mdn"]
    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    cfg = TrainConfig(
        data=trained_model.folder.root, out=out, preset="tiny", epochs={"features": 1, "vae": 2, "mdn": 1},
        batch_size=8, device="cpu", resume=True, ranking="decoded",
    )  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    records = [r for r in records if isinstance(r, Progress)]  # not the folder scan's
    stages = {r.stage for r in records}
    assert stages == {STAGE}, stages  # the networks were finished: only the refit ran
    assert records[-1].kind == "epoch" and records[-1].val["weight_decay"] > 0

    bundle = load_model(out)
    after = bundle.nets["mdn"]
    K = after.cfg.n_components
    w0, w1 = before.fc[-1].weight, after.fc[-1].weight
    assert torch.equal(w0[K:], w1[K:]) and torch.equal(before.fc[-1].bias[K:], after.fc[-1].bias[K:])
    assert not torch.equal(w0[:K], w1[:K])  # the weights' read-out moved, the means did not
    last = f"fc.{len(after.fc) - 1}."
    for name, p in before.state_dict().items():
        if not name.startswith(last):
            assert torch.equal(p, after.state_dict()[name]), name
    assert bundle.meta["ranking"] == "decoded" and "weight_decay" in bundle.meta["ranking_fit"]
    assert "decoded (the weights refitted" in model_card_text(bundle.meta, "ranked")

    # Asked again, and resumed without asking: nothing more to do, the ranking stays.
    for ranking in ("decoded", None):
        records, _ = run_to_end(run_training(dataclasses.replace(cfg, ranking=ranking)))
        assert not [r for r in records if isinstance(r, Progress)]
        assert torch.equal(load_model(out).nets["mdn"].fc[-1].weight, w1)


def test_more_mdn_epochs_rank_again(trained_model, tmp_path, subprocess_env):
    """The command line, resuming with more MDN epochs: its epochs train the paper's weights,
    then the refit runs again, and the file says so."""
    out = tmp_path / "more.pt"
    shutil.copy(trained_model.path, out)
    cmd = [sys.executable, "-m", "divcolor_gui", "train", "--data", str(trained_model.folder.root),
           "--out", str(out), "--preset", "tiny", "--batch-size", "8", "--device", "cpu", "--resume",
           "--epochs", "1,2,2", "--ranking", "decoded"]  # fmt: skip
    r = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{STAGE} " in r.stderr  # its progress lines
    meta = load_model(out).meta
    assert meta["progress"]["mdn"] == 2 and meta["ranking"] == "decoded"
