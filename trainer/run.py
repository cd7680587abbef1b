"""The training runner shared by `divcolor train` and the app's Trainer tab.

`run_training(cfg)` is a generator: it yields ScanProgress while the folder is cached,
then the stages' Progress records, and saves the model atomically after every epoch
(with a `.resume.pt` beside it holding the optimizer states). Stopping the iteration at
any point loses at most the epoch in progress; `resume=True` continues from the last
saved epoch. Read it top to bottom: each step below is one small function.

A run holds a lock on its model file for its whole life (output_lock). After each epoch
the resume file is written first, holding the model too, then the model file: a run
killed between the two leaves a resume file one epoch ahead, and the next run restores
the model from it (_resume_is_ahead) rather than restarting the optimizer.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from divcolor_gui.core.checkpoint import (
    ModelBundle,
    atomic_save,
    bundle_to_dict,
    load_model,
    save_model,
)
from divcolor_gui.core.device import resolve_device
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from divcolor_gui.core.nets.mdn import MDN_PRESETS, MDNConfig
from divcolor_gui.core.nets.vae import VAE
from divcolor_gui.core.output_paths import OutputPathError, check_output_file, temporaries
from divcolor_gui.core.resources import resume_path
from divcolor_gui.core.stats import DatasetStats, StatsAccumulator
from divcolor_gui.core.vocabulary import (
    DEFAULT_EPOCHS,
    FEATURE_LOSSES,
    FEATURE_PRESETS,
    MAX_SHIFT,
    MDN_LOSSES,
    PRECISIONS,
    PRESETS,
    RANKINGS,
    STAGE_ORDER,
)

from .config import NOT_GIVEN, TrainConfig, TrainingError
from .data import PhotoFolder, folder_name, scan_folder, stream_folder, summarize_skips
from .distributed import SINGLE, Ranks, broadcast, step_forward
from .imagenet import ImageNetWeightsError, load_imagenet_weights
from .loop import StageData, StageState
from .methods import ALL_ROLES, Method, RunSettings, get_method
from .output_lock import OutputLock
from .policy import check_feature_reuse, feature_net_info
from .ranking import refit_ranking

FIELD_READOUT = 64  # rank of the "field" feature loss's linear read-out, as the latent's size
FIELD_HYPOTHESES = MDNConfig.n_components  # the "hypotheses" feature loss's fields: one per MDN mode


def run_training(cfg: TrainConfig, ranks: Ranks = SINGLE):
    """Generator of ScanProgress and loop.Progress; returns the saved model's path.

    Under torchrun every process runs this with its own `ranks` (trainer.distributed, whose
    process group is started): rank 0 alone locks, cleans and writes the files."""
    # What "not given" means for a run that plan_run did not resolve from a model file.
    cfg = dataclasses.replace(
        cfg, **{k: default for k, default in NOT_GIVEN.items() if getattr(cfg, k) is None}
    )
    if cfg.epochs is None:
        cfg = dataclasses.replace(cfg, epochs=dict(DEFAULT_EPOCHS))
    method = _check_names(cfg)
    out = Path(cfg.out)
    if not ranks.is_main:
        return (yield from _train(cfg, method, out, ranks))
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(out):
        _remove_temporaries(out)
        return (yield from _train(cfg, method, out, ranks))


def _train(cfg: TrainConfig, method: Method, out: Path, ranks: Ranks):
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if ranks.is_main:
        saved, bundle = _open_to_continue(cfg, out, device)
    ranks.barrier()  # the files are as this run starts from: the other ranks read them now
    if not ranks.is_main:
        saved = _read_resume(resume_path(out), "cpu") if cfg.resume else {}
        bundle = _open_model(cfg, out, device)
    _reuse_features(cfg, bundle, device)
    _reuse_vae(cfg, bundle, device)
    roles = _roles_to_train(cfg, method, bundle)
    _start_mdn_from(cfg, bundle, device)

    grey_size = _grey_size(cfg, method, bundle)
    data = yield from _open_data(cfg, max(64, grey_size), ranks)
    train_idx, val_idx = data.split(cfg.val_fraction)
    if len(train_idx) < 2 and len(data.files) >= 3:  # enough for 2 to train on and 1 to hold out
        raise TrainingError(
            f"--val-fraction {cfg.val_fraction:g} holds out {len(val_idx)} of the {len(data.files)} usable "
            f"photos, leaving {len(train_idx)} to train on: hold out a smaller share"
        )
    if len(train_idx) < 2:
        raise TrainingError(
            f"{cfg.data}: only {len(data.files)} usable colour photos ({summarize_skips(data.skipped)}); need more to train"
        )
    if cfg.batch_size % ranks.world:
        raise TrainingError(
            f"--batch-size {cfg.batch_size} does not split evenly over {ranks.world} processes"
        )
    sd = StageData(data, train_idx, val_idx, cfg.batch_size, device, grey_size, seed=cfg.seed, ranks=ranks)
    if bundle.stats is None:  # one pass over the photos: rank 0 makes them, the others are told
        bundle.stats = broadcast(ranks, _dataset_stats(data, sd, cfg.weighting) if ranks.is_main else None)
    _record_setup(bundle.meta, cfg, data, sd, device)

    resume_states = saved.get("states", {})  # Adam's load_state_dict moves them to the device
    retrained: set[str] = set()  # roles that moved in this run
    for role in roles:
        yield from _train_role(role, cfg, method, bundle, sd, resume_states, retrained, out)
    if "mdn" in bundle.nets:
        yield from _rank(cfg, method, bundle, sd, out)
    if ranks.is_main and not out.exists():  # nothing left to train, but the stats or reuse changed
        save_model(bundle, out)
    return out


# ----------------------------------------------------------------------------- before training


def _check_names(cfg: TrainConfig) -> Method:
    """Every name in the config is one we know, else one line saying the choices."""
    for s in cfg.stages:
        if s not in STAGE_ORDER:
            raise TrainingError(f"unknown stage {s!r}: choose from {', '.join(STAGE_ORDER)}")
    if cfg.preset not in PRESETS:
        raise TrainingError(f"unknown preset {cfg.preset!r}: choose from {', '.join(PRESETS)}")
    if cfg.features_preset and cfg.features_preset not in FEATURE_PRESETS:
        raise TrainingError(
            f"unknown feature network preset {cfg.features_preset!r}: choose from {', '.join(FEATURE_PRESETS)}"
        )
    if cfg.features_preset and "mdn" in cfg.stages and not cfg.features_from:
        fp = cfg.features_preset
        check_feature_reuse(feature_net_info(COLORNET_PRESETS[fp], fp), cfg.preset, f"the {fp} preset")
    if cfg.features_loss not in FEATURE_LOSSES:
        raise TrainingError(
            f"unknown feature loss {cfg.features_loss!r}: choose from {', '.join(FEATURE_LOSSES)}"
        )
    if not 0 <= cfg.shift <= MAX_SHIFT:
        raise TrainingError(f"--shift {cfg.shift}: give 0 (none) to {MAX_SHIFT} field pixels")
    if cfg.ranking not in RANKINGS:
        raise TrainingError(f"unknown ranking {cfg.ranking!r}: choose from {', '.join(RANKINGS)}")
    if cfg.mdn_loss not in MDN_LOSSES:
        raise TrainingError(f"unknown MDN loss {cfg.mdn_loss!r}: choose from {', '.join(MDN_LOSSES)}")
    if not (math.isfinite(cfg.cast_weight) and cfg.cast_weight >= 0):
        raise TrainingError(f"--cast-weight {cfg.cast_weight:g}: give a weight of 0 or more")
    if not (math.isfinite(cfg.chroma_floor) and cfg.chroma_floor >= 0):
        raise TrainingError(f"--chroma-floor {cfg.chroma_floor:g}: give a share of 0 or more (e.g. 0.9)")
    if cfg.mdn_loss == "shared-cast" and cfg.method == "ours-skip":
        raise TrainingError(
            "the shared-cast MDN loss needs a decoder that reads the latent alone, not ours-skip's"
        )
    if cfg.vae_linear_path and cfg.method != "ours":
        raise TrainingError(f"--vae-linear-path is the plain VAE's: {cfg.method} has a decoder of its own")
    if cfg.vae_linear_path and cfg.vae_from:
        raise TrainingError("--vae-linear-path makes a new VAE: not with --vae, which reuses one")
    if cfg.precision not in PRECISIONS:
        raise TrainingError(f"unknown precision {cfg.precision!r}: choose from {', '.join(PRECISIONS)}")
    try:
        return get_method(cfg.method, trainable=True)
    except ValueError as e:
        raise TrainingError(str(e)) from None


def _check_output(out: Path) -> None:
    """The model file and its resume file can be written: said before any work starts."""
    try:
        for path in (out, resume_path(out)):
            check_output_file(path)
    except OutputPathError as e:
        raise TrainingError(str(e)) from None


def _remove_temporaries(out: Path) -> None:
    """Half-written saves of a run killed mid-write (this run holds the lock: none is live)."""
    for path in (out, resume_path(out)):
        for tmp in temporaries(path):
            tmp.unlink(missing_ok=True)


def _open_to_continue(cfg: TrainConfig, out: Path, device) -> tuple[dict, ModelBundle]:
    """The resume file's dict (read once) and the model this run starts from, with the
    epoch a kill between an epoch's two saves cut short put back (rank 0 only: it writes)."""
    saved = _read_resume(resume_path(out), "cpu") if cfg.resume else {}
    bundle = _open_model(cfg, out, device)
    if _resume_is_ahead(saved.get("model"), bundle.meta):
        atomic_save(saved["model"], out)
        bundle = load_model(out, device)
    return saved, bundle


def _open_data(cfg: TrainConfig, size: int, ranks: Ranks):
    """The photos: streamed from the folder (decoded as they are read), or from the cache,
    which the processes on each machine prepare together, each decoding its share."""
    if cfg.stream:
        return stream_folder(cfg.data, size=size, max_images=cfg.max_images)
    return (
        yield from scan_folder(
            cfg.data, size=size, cache_dir=cfg.cache_dir, max_images=cfg.max_images,
            share=(ranks.local_rank, ranks.local_world), barrier=ranks.barrier,
        )
    )  # fmt: skip


def _resume_is_ahead(model: dict | None, meta: dict) -> bool:
    """Whether the model a resume file holds is the model file's own (created together) and
    further on: a kill between the two saves of an epoch, whose model is then put back so
    the model and its optimizer states match. Another model copied to this name, beside an
    old resume file, is left alone."""
    if not model:
        return False
    theirs = model.get("meta", {})
    ahead, behind = theirs.get("progress") or {}, meta.get("progress") or {}
    same = theirs.get("created") == meta.get("created")
    return same and ahead != behind and all(ahead.get(r, 0) >= n for r, n in behind.items())


def _open_model(cfg: TrainConfig, out: Path, device) -> ModelBundle:
    """The model to continue (resume), or a new, empty one; never silently replace a file."""
    if cfg.resume:
        if not out.is_file():
            raise TrainingError(f"--resume: {out} does not exist yet (start without --resume)")
        bundle = load_model(out, device)
        have = bundle.meta.get("method", "ours")
        if have != cfg.method and not {have, cfg.method} <= {"ours", "ours-skip"}:
            raise TrainingError(f"{out} is a {have!r} model, not {cfg.method!r}")
        return bundle
    if out.exists():
        raise TrainingError(f"{out} exists: pass --resume to continue it, or choose another --out")
    return ModelBundle(nets={}, meta={})


def _reuse_features(cfg: TrainConfig, bundle: ModelBundle, device) -> None:
    """Copy a base model's feature network in (once; a resumed file has it already)."""
    if not cfg.features_from or "features" in bundle.nets:
        return
    src = load_model(cfg.features_from, device)
    if "features" not in src.nets:
        raise TrainingError(f"{cfg.features_from} has no feature network to reuse")
    features = src.nets["features"]
    check_feature_reuse(
        feature_net_info(features.cfg, src.meta.get("preset")), cfg.preset, Path(cfg.features_from).name
    )
    bundle.nets["features"] = features
    bundle.meta["features_from"] = {
        "model": Path(cfg.features_from).name, "trained_on": Path(str(src.meta.get("trained_on", ""))).name,
        "epochs": int(src.meta.get("epochs", {}).get("features", 0)),
    }  # fmt: skip
    # Its preset and the loss it learned with there (the model card's rows; such a network
    # is not trained again).
    bundle.meta["features_preset"] = src.meta.get("features_preset", src.meta.get("preset"))
    bundle.meta["features_loss"] = src.meta.get("features_loss", NOT_GIVEN["features_loss"])
    bundle.meta["shift"] = src.meta.get("shift", NOT_GIVEN["shift"])


def _reuse_vae(cfg: TrainConfig, bundle: ModelBundle, device) -> None:
    """Copy a base model's VAE in (once), with the colour statistics its losses used."""
    if not cfg.vae_from or "vae" in bundle.nets:
        return
    src = load_model(cfg.vae_from, device)
    if "vae" not in src.nets or src.stats is None:
        raise TrainingError(f"{cfg.vae_from} has no VAE to reuse")
    name = Path(cfg.vae_from).name
    if src.meta.get("method", "ours") != cfg.method:
        raise TrainingError(f"{name} is a {src.meta.get('method')!r} model, not {cfg.method!r}")
    z_dim, want = src.nets["vae"].cfg.z_dim, MDN_PRESETS[cfg.preset].z_dim
    if z_dim != want:
        raise TrainingError(
            f"{name}'s VAE has a {z_dim}-d latent; the {cfg.preset} preset's MDN predicts {want}"
        )
    bundle.nets["vae"], bundle.stats = src.nets["vae"], src.stats
    bundle.meta["vae_from"] = {
        "model": name, "trained_on": Path(str(src.meta.get("trained_on", ""))).name,
        "epochs": int(src.meta.get("epochs", {}).get("vae", 0)),
    }  # fmt: skip


def _start_mdn_from(cfg: TrainConfig, bundle: ModelBundle, device) -> None:
    """--mdn-from: the MDN starts from a base model's rather than afresh (once; a resumed
    file has it). Its means are latents of the VAE it learned on: worth keeping when this
    run's VAE is that one fine-tuned, whose latents have barely moved."""
    if not cfg.mdn_from or "mdn" in bundle.nets:
        return
    src = load_model(cfg.mdn_from, device)
    name = Path(cfg.mdn_from).name
    if "mdn" not in src.nets:
        raise TrainingError(f"{name} has no MDN to start from")
    if src.nets["mdn"].cfg != MDN_PRESETS[cfg.preset]:
        raise TrainingError(f"{name}'s MDN is not the {cfg.preset} preset's")
    bundle.nets["mdn"] = src.nets["mdn"]
    bundle.meta["mdn_from"] = {
        "model": name, "trained_on": Path(str(src.meta.get("trained_on", ""))).name,
        "epochs": int(src.meta.get("progress", {}).get("mdn", 0)),
    }  # fmt: skip


def _roles_to_train(cfg: TrainConfig, method: Method, bundle: ModelBundle) -> list[str]:
    """The method's roles this run trains, in order; a reused feature network is not one."""
    if method.roles == STAGE_ORDER:
        roles = [s for s in STAGE_ORDER if s in cfg.stages]
    else:
        roles = list(method.roles)  # a baseline trains all of its own roles
    if cfg.features_from:
        roles = [r for r in roles if r != "features"]
    if cfg.vae_from:
        roles = [r for r in roles if r != "vae"]
    have = set(roles) | set(bundle.nets)
    if "mdn" in roles and "features" not in have:
        raise TrainingError(
            "the MDN needs a feature network: add the features stage or pass --features MODEL"
        )
    if "mdn" in roles and "vae" not in have:
        raise TrainingError("the MDN needs a VAE: add the vae stage or resume a model that has one")
    if cfg.mdn_from and ("mdn" not in roles or "vae" in roles):
        raise TrainingError("--mdn-from starts the mdn stage on a reused VAE: pass --vae and no vae stage")
    return roles


def _grey_size(cfg: TrainConfig, method: Method, bundle: ModelBundle) -> int:
    """The side the grey input is cached at: the feature network's, or the colour field's."""
    if not method.reads_features:
        return 64
    if "features" in bundle.nets:
        return bundle.nets["features"].cfg.input_size
    return COLORNET_PRESETS[cfg.features_preset or cfg.preset].input_size


def _dataset_stats(data: PhotoFolder, sd: StageData, weighting: str) -> DatasetStats:
    """The training photos' colour statistics: L_hist's bin weights and L_mah's PCA."""
    acc = StatsAccumulator()
    for x in data.batches(sd.train_idx, 256, shuffle=False):
        acc.add(sd.to_net(x)[1])
    return acc.finish(weighting=weighting)


def _training_fields(sd: StageData, n: int = 4096) -> torch.Tensor:
    """Up to n of the training photos' colour fields (N, 2, 64, 64), spread over the folder:
    what a new VAE's linear path starts from (vae.init_linear_path)."""
    idx = sd.train_idx[np.linspace(0, len(sd.train_idx) - 1, min(n, len(sd.train_idx))).astype(int)]
    return torch.cat(
        [sd.to_net(x)[1].float().cpu() for x in sd.data.batches(np.unique(idx), 256, shuffle=False)]
    )


def _record_setup(meta: dict, cfg: TrainConfig, data: PhotoFolder, sd: StageData, device) -> None:
    """What the model file says about how it was trained (the model card reads it)."""
    meta.setdefault("created", _dt.datetime.now().isoformat(timespec="seconds"))
    meta.update(
        name=cfg.name or meta.get("name") or Path(cfg.out).stem,
        trained_on=folder_name(cfg.data),
        preset=cfg.preset,
        split={
            "val_fraction": cfg.val_fraction, "n_train": int(len(sd.train_idx)), "n_val": int(len(sd.val_idx)),
            "rule": "crc32(relative path) % 10000 < val_fraction * 10000",
        },
        skipped={k: len(v) for k, v in data.skipped.items()},
        loss_weights=asdict(cfg.loss_weights),
        weighting=cfg.weighting,
        batch_size=cfg.batch_size,
        device=str(device),
        host=platform.node(),
        torch=str(torch.__version__),
        method=cfg.method,
        planned_epochs=dict(cfg.epochs),  # what a plain --resume goes on to (policy.settings_for_resume)
        processes=sd.ranks.world,
        precision=cfg.precision,
    )  # fmt: skip
    meta.setdefault("lr", cfg.lr)  # a run that trains a role records its own (_train_role)
    meta.setdefault("history", {})
    meta.setdefault("wall_s", {})
    if not meta.get("progress", {}).get("mdn"):
        # The MDN's settings as planned, until its epochs record what it trained with
        # (_train_role): a run stopped before the MDN resumes with them.
        meta.update(mdn_loss=cfg.mdn_loss, cast_weight=cfg.cast_weight, end_to_end=cfg.end_to_end)
    if cfg.vae_linear_path and not meta.get("progress", {}).get("vae"):
        meta["vae_linear_path"] = True  # planned likewise: a run stopped before its VAE keeps it


def read_resume_states(path: Path, device) -> dict:
    """The optimizer states of a resumable run, {} where there are none or they are unreadable
    (the run then continues with fresh optimizers). Same safety rules as a model file."""
    return _read_resume(path, device).get("states", {})


def resume_file_problem(out: Path) -> str | None:
    """One line when `out`'s resume file is there but cannot be used (cut short, damaged, or
    not a resume file): the run then goes on from the model with fresh optimizers."""
    path = resume_path(out)
    if not path.is_file() or _read_resume(path, "cpu"):
        return None
    return f"optimizer states: {path.name} cannot be read (damaged?), so the optimizers start afresh"


def _read_resume(path: Path, device) -> dict:
    """A resume file's dict: {"states": optimizer states by role, "model": the model as
    saved with them}; {} where there is none or it cannot be read."""
    if not path.is_file():
        return {}
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception:
        return {}
    if not isinstance(obj, dict) or obj.get("format") != "divcolor-resume":
        return {}
    return obj


# ----------------------------------------------------------------------------- one role


def _train_role(
    role: str, cfg: TrainConfig, method: Method, bundle: ModelBundle, sd: StageData,
    resume_states: dict, retrained: set[str], out: Path,
):  # fmt: skip
    """Train one role to its epochs, saving after every epoch; then freeze it."""
    meta = bundle.meta
    progress = meta.setdefault("progress", {})
    epochs = method.epochs_for(role, cfg.epochs)
    done = int(progress.get(role, 0))
    if role == "mdn" and role in bundle.nets and (retrained & {"features", "vae"} or meta.get("mdn_stale")):
        # The MDN predicts the VAE's latents from the features: once either moved (in this
        # run, or in one stopped before the MDN restarted), what it learned is stale.
        del bundle.nets[role]
        done, progress[role], meta["history"][role] = 0, 0, []
        resume_states.pop(role, None)
    if role == "mdn":
        meta.pop("mdn_stale", None)
    if role in bundle.nets and done >= epochs:
        return  # finished in an earlier run
    if role not in bundle.nets:
        preset = cfg.features_preset if role == "features" and cfg.features_preset else cfg.preset
        bundle.nets[role] = method.new_net(role, preset)
        if role == "features":
            meta["features_preset"] = preset
            if bundle.nets[role].cfg.imagenet:
                try:
                    load_imagenet_weights(bundle.nets[role])
                except ImageNetWeightsError as e:
                    raise TrainingError(str(e)) from e
        if role == "vae" and cfg.vae_linear_path:
            vae = VAE(dataclasses.replace(bundle.nets[role].cfg, linear_path=True))
            vae.init_linear_path(_training_fields(sd))
            bundle.nets[role] = vae
    trained = _trainable(role, cfg, bundle, sd.device)
    lr = cfg.lr_for(role)
    opt = torch.optim.Adam([p for n in trained for p in n.parameters() if p.requires_grad], lr=lr)
    _restore_optimizer(opt, resume_states.get(role), done)
    state = StageState(
        role, trained[0], opt, epochs, epochs_done=done, history=list(meta["history"].get(role, [])),
        forward=step_forward(trained, sd.ranks, sd.device, cfg.precision),
    )  # fmt: skip
    run = RunSettings(
        stats=bundle.stats, lr=lr, nets=bundle.nets, meta=meta, loss_weights=cfg.loss_weights,
        features_loss=cfg.features_loss, shift=cfg.shift, mdn_loss=cfg.mdn_loss,
        cast_weight=cfg.cast_weight, end_to_end=cfg.end_to_end,
    )  # fmt: skip
    # How its last epochs were trained, for the model card and for a plain --resume; recorded
    # by a run that trains the role (a refit or another stage leaves a trained MDN's alone).
    meta["lr"] = cfg.lr
    if role == "features":
        meta.update(features_loss=cfg.features_loss, shift=cfg.shift)
    if role == "mdn":
        # whether the feature network has ever learned through the MDN (the model card says so)
        ever = cfg.end_to_end or bool(meta.get("features_end_to_end", meta.get("end_to_end")))
        meta.update(mdn_loss=cfg.mdn_loss, cast_weight=cfg.cast_weight, end_to_end=cfg.end_to_end)
        meta["features_end_to_end"] = ever
        if cfg.end_to_end:  # the feature network learns here too: "shift" is its latest training's
            meta["shift"] = cfg.shift
    t_stage, wall_before = time.monotonic(), float(meta["wall_s"].get(role, 0.0))
    for rec in method.train(role, state, sd, run):
        if rec.kind == "epoch":
            retrained.add(role)
            if role in ("features", "vae") and "mdn" in bundle.nets:
                meta["mdn_stale"] = True  # saved with this epoch: a later run restarts the MDN
            if role == "mdn":
                meta["ranking"] = "latent"  # its epochs train the weights the paper's way
            meta["wall_s"][role] = wall_before + time.monotonic() - t_stage
            resume_states[role] = {"epochs_done": state.epochs_done, "optimizer": opt.state_dict()}
            if sd.ranks.is_main:
                _save_epoch(bundle, state, resume_states, out)
        yield rec
    for n in trained:
        n.eval()
        n.requires_grad_(False)


def _rank(cfg: TrainConfig, method: Method, bundle: ModelBundle, sd: StageData, out: Path):
    """--ranking decoded: once the MDN has all its epochs, refit its weights (trainer.ranking),
    unless they are refitted already (an MDN epoch sets meta["ranking"] back to "latent")."""
    meta = bundle.meta
    finished = int(meta["progress"].get("mdn", 0)) >= method.epochs_for("mdn", cfg.epochs)
    if cfg.ranking != "decoded" or not finished:
        return
    ranked_at = (meta.get("ranking_fit") or {}).get("chroma_floor", NOT_GIVEN["chroma_floor"])
    if meta.get("ranking") == "decoded" and ranked_at == cfg.chroma_floor:
        return  # done already; a new --chroma-floor ranks again
    meta["ranking_fit"] = yield from refit_ranking(bundle.nets, sd, cfg.chroma_floor)
    meta["ranking"], meta["chroma_floor"] = "decoded", cfg.chroma_floor
    if sd.ranks.is_main:
        save_model(bundle, out)


def _trainable(role: str, cfg: TrainConfig, bundle: ModelBundle, device) -> list[torch.nn.Module]:
    """The networks a role's optimizer moves, the role's own first: the MDN trained end to
    end also moves the feature network. Channels-last: ~1.7x faster convs on a CPU."""
    nets = [bundle.nets[role]]
    if role == "features" and cfg.features_loss != "bins":
        nets[0].ensure_readout(FIELD_READOUT, 1 if cfg.features_loss == "field" else FIELD_HYPOTHESES)
    if role == "mdn" and cfg.end_to_end:
        nets.append(bundle.nets["features"])
    for n in nets:  # Module.to works in place
        n.to(device).to(memory_format=torch.channels_last).requires_grad_(True)
        if isinstance(n, ColorNet):
            n.keep_frozen()
    return nets


def _restore_optimizer(opt: torch.optim.Optimizer, saved: dict | None, done: int) -> None:
    """Continue Adam's moments where the last run stopped; a state saved for other
    parameters (end to end switched on or off, a read-out widened for the hypotheses loss)
    or another epoch leaves a fresh optimizer. Adam's load_state_dict checks the number of
    parameters, not their shapes, so the shapes are compared here."""
    if not saved or saved.get("epochs_done") != done:
        return
    shapes = [p.shape for g in opt.param_groups for p in g["params"]]
    moments = saved["optimizer"]["state"]
    if any(i in moments and moments[i]["exp_avg"].shape != s for i, s in enumerate(shapes)):
        return
    try:
        opt.load_state_dict(saved["optimizer"])
    except ValueError:
        pass


def _save_epoch(bundle: ModelBundle, state: StageState, resume_states: dict, out: Path) -> None:
    """The model and its resume file after an epoch, with what each network has had."""
    meta = bundle.meta
    meta["progress"][state.name] = state.epochs_done
    meta["history"][state.name] = state.history
    # Files from before the reused epochs were recorded lack them.
    reused = {r: meta[f"{r}_from"].get("epochs", 0) for r in ("features", "vae") if f"{r}_from" in meta}
    meta["epochs"] = {r: meta["progress"].get(r, reused.get(r, 0)) for r in ALL_ROLES if r in bundle.nets}
    # The resume file first, with the model in it: whichever save a kill interrupts, the
    # next run finds an epoch whose model and optimizer states belong together.
    model = bundle_to_dict(bundle)
    atomic_save(
        {"format": "divcolor-resume", "version": 2, "states": resume_states, "model": model}, resume_path(out)
    )
    atomic_save(model, out)


__all__ = ["TrainConfig", "TrainingError", "read_resume_states", "resume_path", "run_training"]
