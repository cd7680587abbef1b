"""The training policy: what a resumed model keeps from its file, and which reused feature
networks fit (trainer/policy.py). No training here: configs, metadata and tiny files."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from divcolor_gui.core.checkpoint import ModelBundle, ModelFileError, save_model
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from trainer.policy import (
    base_model_info,
    check_feature_reuse,
    feature_net_info,
    preset_for_base,
    settings_for_resume,
)
from trainer.run import TrainConfig, TrainingError


def config(tmp_path: Path, **kw) -> TrainConfig:
    return TrainConfig(data=tmp_path / "photos", out=tmp_path / "m.pt", **kw)


def test_resume_keeps_the_models_own_settings(tmp_path):
    weights = LossWeights(mah=0.5)
    meta = {
        "preset": "tiny",
        "weighting": "raw",
        "method": "ours",
        "trained_on": str(tmp_path / "first-photos"),
        "loss_weights": asdict(weights),
        "progress": {"features": 2, "vae": 1},
    }
    (tmp_path / "first-photos").mkdir()  # a file from before names alone were stored: its full path
    cfg = config(tmp_path, preset="compact", stages=("vae", "mdn"), batch_size=16, lr=3e-4)
    resumed, notes = settings_for_resume(cfg, meta)
    assert resumed.resume
    assert (resumed.preset, resumed.weighting, resumed.loss_weights) == ("tiny", "raw", weights)
    assert resumed.data == tmp_path / "first-photos"
    # It trained its own feature network: that one goes on training.
    assert resumed.stages == ("features", "vae", "mdn") and resumed.features_from is None
    # What the caller chose for this session stays.
    assert (resumed.batch_size, resumed.lr, resumed.epochs) == (16, 3e-4, cfg.epochs)
    assert any("preset: tiny" in n for n in notes) and any("photos:" in n for n in notes)
    assert not any("method" in n for n in notes)  # unchanged settings are not mentioned


def test_resume_of_a_file_naming_only_its_folder_keeps_the_photos_given(tmp_path):
    """Model files store the photos folder's name: the photos given are used, with a note
    when their folder's name differs from the one the model was started on."""
    same, notes = settings_for_resume(config(tmp_path), {"trained_on": "photos"})
    assert same.data == config(tmp_path).data and notes == []
    other, notes = settings_for_resume(config(tmp_path), {"trained_on": "holidays"})
    assert other.data == config(tmp_path).data
    assert notes == [
        f"photos: {config(tmp_path).data}, though the model was started on a folder named 'holidays'"
    ]


def test_resume_of_a_reusing_model_does_not_train_the_features(tmp_path):
    meta = {"preset": "compact", "features_from": {"model": str(tmp_path / "base.pt")}}
    resumed, _ = settings_for_resume(config(tmp_path), meta)
    assert resumed.features_from == tmp_path / "base.pt" and "features" not in resumed.stages
    resumed, notes = settings_for_resume(config(tmp_path), {})  # an old file says nothing
    assert resumed.resume and notes == []


def test_feature_reuse_must_fit_the_presets_mdn():
    tiny = feature_net_info(COLORNET_PRESETS["tiny"], "tiny")
    assert (tiny.channels, tiny.feature_size, tiny.input_size) == (16, 8, 64)
    check_feature_reuse(tiny, "tiny")
    with pytest.raises(
        TrainingError, match="base.pt's feature network .* compact preset's MDN: choose the tiny"
    ):
        check_feature_reuse(tiny, "compact", "base.pt")
    unknown = feature_net_info(asdict(COLORNET_PRESETS["tiny"]))  # a stored config, no preset recorded
    assert unknown == feature_net_info(COLORNET_PRESETS["tiny"]) and preset_for_base(unknown) is None
    with pytest.raises(TrainingError, match="choose another base model"):
        check_feature_reuse(unknown, "paper")
    assert preset_for_base(tiny) == "tiny"


def test_base_model_info_reads_the_file(tmp_path):
    path = tmp_path / "base.pt"
    save_model(
        ModelBundle(nets={"features": ColorNet(COLORNET_PRESETS["tiny"])}, meta={"preset": "tiny"}), path
    )
    assert base_model_info(path) == feature_net_info(COLORNET_PRESETS["tiny"], "tiny")
    save_model(ModelBundle(nets={}, meta={}), path)
    with pytest.raises(ModelFileError, match="no feature network"):
        base_model_info(path)


def test_resume_keeps_the_losses_unless_one_is_given(tmp_path):
    """A resumed model once went on with the paper's loss, silently, when --mdn-loss and
    --end-to-end were not repeated, and a feature network trained on the field went on with
    the 313 bins when --features-loss was not; a loss that is given still switches it."""
    meta = {"mdn_loss": "shared-cast", "end_to_end": True, "features_loss": "field", "cast_weight": 0.5}
    cfg = TrainConfig(data=tmp_path, out=tmp_path / "m.pt")
    kept, notes = settings_for_resume(cfg, meta)
    assert (kept.mdn_loss, kept.end_to_end, kept.features_loss) == ("shared-cast", True, "field")
    assert kept.cast_weight == 0.5 and "cast weight: 0.5 (as the model was trained)" in notes
    assert "mdn loss: shared-cast (as the model was trained)" in notes
    assert "features loss: field (as the model was trained)" in notes
    switched, notes = settings_for_resume(
        TrainConfig(
            data=tmp_path, out=tmp_path / "m.pt", mdn_loss="winner", end_to_end=False, features_loss="bins",
            cast_weight=2.0,
        ),
        meta,
    )  # fmt: skip
    assert (switched.mdn_loss, switched.end_to_end, switched.features_loss) == ("winner", False, "bins")
    assert switched.cast_weight == 2.0 and notes == []
    # A weight the file kept is not announced for a loss it does not weigh in.
    _, notes = settings_for_resume(cfg, {**meta, "mdn_loss": "winner"})
    assert not any(n.startswith("cast weight") for n in notes)
    # 0 is a weight, not "not given".
    zero, _ = settings_for_resume(cfg, {**meta, "cast_weight": 0.0})
    assert zero.cast_weight == 0.0


def test_resume_without_epochs_takes_the_files_plan_and_says_so(tmp_path):
    meta = {"planned_epochs": {"features": 0, "vae": 0, "mdn": 16}, "progress": {"mdn": 5}}
    resumed, notes = settings_for_resume(config(tmp_path), meta)
    assert resumed.epochs == {"features": 0, "vae": 0, "mdn": 16}
    assert notes == ["epochs: 0,0,16 (as the model's last run was started)"]
    given, notes = settings_for_resume(config(tmp_path, epochs={"features": 0, "vae": 0, "mdn": 2}), meta)
    assert given.epochs == {"features": 0, "vae": 0, "mdn": 2} and notes == []
    # A file from before the plan was recorded: the run's defaults (trainer.run) apply.
    assert settings_for_resume(config(tmp_path), {"progress": {"mdn": 5}})[0].epochs is None
