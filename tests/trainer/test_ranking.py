"""--ranking decoded: the MDN's weights refitted to the component whose colours come nearest."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import pytest
import torch

from divcolor_gui.core.checkpoint import load_model
from divcolor_gui.core.model_card import model_card_text
from trainer import ranking
from trainer.loop import Progress
from trainer.policy import plan_run
from trainer.ranking import CHROMA_FLOOR, STAGE, fit_readout, pick_ranking, ranking_targets, top_error_of_best
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


def test_error_of_best_is_scored_over_the_heaviest_five():
    # Eight components, weights in the order 7, 6, ..., 0: the five heaviest are 7 to 3.
    K, D = 8, 4
    H = torch.ones(1, D)
    W, b = torch.zeros(K, D), torch.arange(K, dtype=torch.float32)
    err = torch.tensor([[0.01, 0.02, 0.03, 0.09, 0.08, 0.07, 0.06, 0.05]])
    assert top_error_of_best(W, b, H, err) == pytest.approx(0.05)  # not .01: component 0 is light
    b = b.flip(0)  # now 0 to 4 are the heaviest
    assert top_error_of_best(W, b, H, err) == pytest.approx(0.01)
    # An MDN of fewer than five components (a preset changed by hand) is scored on all of them.
    assert top_error_of_best(W[:3], b[:3], H, err[:, :3]) == pytest.approx(0.01)


def test_targets_prefer_the_truths_colourfulness_at_equal_error():
    err = torch.tensor([[0.05, 0.05, 0.04]])
    chroma = torch.tensor([[0.02, 0.11, 0.02]])
    truth = torch.tensor([0.12])
    t = ranking_targets(err, chroma, truth, chroma_weight=0.7)
    assert t[0, 1] < t[0, 0]  # as near, and as colourful as the truth
    torch.testing.assert_close(t[0, 0] - t[0, 1], torch.tensor(0.7 * 0.09))
    assert t.argmin(1).item() == 1
    assert ranking_targets(err, chroma, truth, chroma_weight=0.0).argmin(1).item() == 2  # L1 alone


def test_the_nearest_ranking_among_the_colourful_ones_is_kept():
    dull, bright, brighter = CHROMA_FLOOR - 0.2, CHROMA_FLOOR + 0.01, CHROMA_FLOOR + 0.2
    trials = {None: (0.060, dull), (0.2, 0.01): (0.065, bright), (0.7, 0.01): (0.070, brighter)}
    assert pick_ranking(trials) == (0.2, 0.01)  # the nearest photo-like one, not the dull paper's
    trials[None] = (0.064, bright)
    assert pick_ranking(trials) is None  # the paper's weights, when they are nearer and colourful
    dull_only = {None: (0.06, 0.5), (0.2, 0.01): (0.07, 0.7), (0.7, 0.01): (0.08, 0.6)}
    assert pick_ranking(dull_only) == (0.2, 0.01)  # none colourful enough: the most colourful


def test_ranking_refits_only_the_weights_once(trained_model, tmp_path, monkeypatch, run_to_end):
    """Every chroma weight and weight decay is tried on the holdout beside the paper's
    weights; when a refit is chosen (here forced: a tiny model's choice is arbitrary), only
    the weights' read-out moves, the card names the choice, and a second request does
    nothing. A refit trains no MDN epoch, so a --cast-weight given with it is not recorded."""
    tried = []
    forced = (ranking.CHROMA_WEIGHTS[2], ranking.WEIGHT_DECAYS[1])

    def forced_refit(trials, floor):
        tried.extend(trials)
        return forced

    monkeypatch.setattr(ranking, "pick_ranking", forced_refit)
    out = tmp_path / "ranked.pt"
    shutil.copy(trained_model.path, out)
    before_meta = load_model(out).meta
    before = load_model(out).nets["mdn"]
    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    cfg = TrainConfig(
        data=trained_model.folder.root, out=out, preset="tiny", epochs={"features": 1, "vae": 2, "mdn": 1},
        batch_size=8, device="cpu", resume=True, ranking="decoded", cast_weight=2.0,
    )  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    records = [r for r in records if isinstance(r, Progress)]  # not the folder scan's
    stages = {r.stage for r in records}
    assert stages == {STAGE}, stages  # the networks were finished: only the refit ran
    assert records[-1].kind == "epoch" and records[-1].val["refitted"] == 1.0
    assert len(tried) == 1 + len(ranking.CHROMA_WEIGHTS) * len(ranking.WEIGHT_DECAYS) and None in tried
    assert forced in tried

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
    fit = bundle.meta["ranking_fit"]
    assert bundle.meta["ranking"] == "decoded" and fit["refitted"]
    assert (fit["chroma_weight"], fit["weight_decay"]) == forced
    card = model_card_text(bundle.meta, "ranked")
    assert "decoded (the weights refitted" in card
    assert f"chroma weight {forced[0]:g}, weight decay {forced[1]:g}" in card
    # What the refit costs Table 3's error-of-best on the holdout is kept and shown.
    before_eob, after_eob = fit["holdout_before"]["eob"], fit["holdout_after"]["eob"]
    assert 0 < before_eob < 1 and 0 < after_eob < 1
    # The heaviest mode is one of the top five, so their best is never further than it.
    assert before_eob <= fit["holdout_before"]["mae"] and after_eob <= fit["holdout_after"]["mae"]
    assert f"error-of-best on its holdout {before_eob:.4f} before, {after_eob:.4f} after" in card
    assert records[-1].val["eob"] == after_eob
    assert bundle.meta.get("cast_weight") == before_meta.get("cast_weight") != 2.0

    # Asked again, and resumed without asking: nothing more to do, the ranking stays.
    for asked in ("decoded", None):
        records, _ = run_to_end(run_training(dataclasses.replace(cfg, ranking=asked)))
        assert not [r for r in records if isinstance(r, Progress)]
        assert torch.equal(load_model(out).nets["mdn"].fc[-1].weight, w1)

    # A new chroma floor ranks again, once; a plain resume then keeps it. Ranking trains no
    # epoch, so the learning rate the card shows stays the one the MDN last trained at.
    lr_before = load_model(out).meta["lr"]
    records, _ = run_to_end(run_training(dataclasses.replace(cfg, chroma_floor=0.5, lr=lr_before * 7)))
    assert {r.stage for r in records if isinstance(r, Progress)} == {STAGE}
    again = load_model(out).meta
    assert again["chroma_floor"] == again["ranking_fit"]["chroma_floor"] == 0.5
    assert again["lr"] == lr_before
    assert "chroma floor 0.5" in model_card_text(again, "ranked")
    records, _ = run_to_end(run_training(plan_run(dataclasses.replace(cfg, ranking=None))[0]))
    assert not [r for r in records if isinstance(r, Progress)]


def test_the_papers_weights_stay_when_they_rank_best(trained_model, tmp_path, monkeypatch, run_to_end):
    out = tmp_path / "kept.pt"
    shutil.copy(trained_model.path, out)
    before = load_model(out).nets["mdn"].fc[-1].weight.clone()
    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    monkeypatch.setattr(ranking, "pick_ranking", lambda trials, floor: None)
    cfg = TrainConfig(
        data=trained_model.folder.root, out=out, preset="tiny", epochs={"features": 1, "vae": 2, "mdn": 1},
        batch_size=8, device="cpu", resume=True, ranking="decoded",
    )  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    assert [r.val["refitted"] for r in records if isinstance(r, Progress) and r.kind == "epoch"] == [0.0]
    bundle = load_model(out)
    assert torch.equal(bundle.nets["mdn"].fc[-1].weight, before)
    assert bundle.meta["ranking"] == "decoded" and bundle.meta["ranking_fit"]["refitted"] is False
    assert "the paper's weights ranked best on the holdout" in model_card_text(bundle.meta, "kept")


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
