"""The training runner shared by `divcolor train` and the app's Trainer tab.

`run_training(cfg)` is a generator: it yields ScanProgress while the folder is
cached, then the stages' Progress records, and saves the model atomically after
every epoch (with a `.resume.pt` beside it holding the optimizer states). Stopping
the iteration at any point loses at most the epoch in progress; `resume=True`
continues from the last saved epoch.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from divcolor_gui.core.checkpoint import (
    ModelBundle,
    ModelFileError,
    atomic_save,
    load_model,
    read_model_dict,
    save_model,
)
from divcolor_gui.core.device import resolve_device
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from divcolor_gui.core.nets.mdn import MDN, MDN_PRESETS
from divcolor_gui.core.nets.vae import VAE, VAE_PRESETS
from divcolor_gui.core.nets.vae_skip import SKIP_VAE_PRESETS, SkipVAE
from divcolor_gui.core.stats import StatsAccumulator

from . import baselines, stages
from .data import FolderData, scan_folder, summarize_skips

STAGE_ORDER = ("features", "vae", "mdn")
PRESETS = ("tiny", "compact", "paper")


@dataclass
class TrainConfig:
    data: Path  # the folder of colour photos, searched recursively
    out: Path  # the model file to write
    stages: tuple[str, ...] = STAGE_ORDER
    preset: str = "compact"  # tiny | compact | paper
    features_from: Path | None = None  # reuse this model's frozen feature network
    epochs: dict[str, int] = field(default_factory=lambda: {"features": 8, "vae": 10, "mdn": 10})
    batch_size: int = 64
    device: str = "auto"
    resume: bool = False
    lr: float | dict[str, float] = 1e-3  # one rate, or per stage (e.g. a lower one to fine-tune the VAE)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    weighting: str = "smoothed"  # L_hist's bin weights: smoothed | raw
    mdn_loss: str = "latent"  # latent (the paper's) | decoded (plus best-of-K on colours, stages.train_mdn)
    end_to_end: bool = False  # the MDN stage also trains the feature network (stages.train_mdn)
    val_fraction: float = 0.05
    skip_decoder: bool = False  # train "ours+skip" instead of the plain VAE
    method: str = (
        "ours"  # ours | cvae | cgan: the paper's baselines train their own roles (trainer/baselines.py)
    )
    name: str | None = None
    max_images: int | None = None
    seed: int = 0
    cache_dir: Path | None = None

    def lr_for(self, role: str) -> float:
        if isinstance(self.lr, dict):
            # The baselines' roles follow V, as their epochs do.
            return float(self.lr.get(role, self.lr.get("vae", 1e-3)))
        return float(self.lr)


class TrainingError(Exception):
    """A problem with the training setup, stated in one line."""


def resume_path(out: Path) -> Path:
    return out.with_name(out.stem + ".resume.pt")


def _new_net(role: str, preset: str, skip: bool, z_dim: int | None = None):
    if role in baselines.ROLES:
        return baselines.new_net(role, preset)
    if role == "features":
        return ColorNet(COLORNET_PRESETS[preset])
    if role == "vae":
        return SkipVAE(SKIP_VAE_PRESETS[preset]) if skip else VAE(VAE_PRESETS[preset])
    if role == "mdn":
        return MDN(MDN_PRESETS[preset])
    raise TrainingError(f"unknown stage {role!r}")


def _optimizer(net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)


def run_training(cfg: TrainConfig):
    """Generator of ScanProgress and stages.Progress; returns the saved model's path."""
    for s in cfg.stages:
        if s not in STAGE_ORDER:
            raise TrainingError(f"unknown stage {s!r}: choose from {', '.join(STAGE_ORDER)}")
    if cfg.preset not in PRESETS:
        raise TrainingError(f"unknown preset {cfg.preset!r}: choose from {', '.join(PRESETS)}")
    if cfg.mdn_loss not in stages.MDN_LOSSES:
        raise TrainingError(f"unknown MDN loss {cfg.mdn_loss!r}: choose from {', '.join(stages.MDN_LOSSES)}")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)

    # What already exists: a resumed run, and/or a model whose feature network we reuse.
    bundle = ModelBundle(nets={}, meta={})
    progress: dict[str, int] = {}
    if cfg.resume:
        if not out.is_file():
            raise TrainingError(f"--resume: {out} does not exist yet (start without --resume)")
        bundle = load_model(out, device)
        progress = dict(bundle.meta.get("progress", {}))
    elif out.exists() and not cfg.resume:
        # Never silently replace a model: say what to do instead.
        raise TrainingError(f"{out} exists: pass --resume to continue it, or choose another --out")
    if cfg.features_from and "features" not in bundle.nets:
        src = load_model(cfg.features_from, device)
        if "features" not in src.nets:
            raise TrainingError(f"{cfg.features_from} has no feature network to reuse")
        bundle.nets["features"] = src.nets["features"]
        src_epochs = int(src.meta.get("epochs", {}).get("features", 0))
        bundle.meta["features_from"] = {
            "model": str(cfg.features_from), "trained_on": src.meta.get("trained_on"), "epochs": src_epochs,
        }  # fmt: skip

    wanted = [s for s in STAGE_ORDER if s in cfg.stages]
    if cfg.features_from:
        wanted = [s for s in wanted if s != "features"]  # reused, frozen: nothing to train
    if cfg.method != "ours":  # a baseline trains its own roles instead of features/vae/mdn
        if cfg.method not in baselines.METHOD_ROLES:
            raise TrainingError(
                f"unknown method {cfg.method!r}: choose from ours, {', '.join(baselines.METHOD_ROLES)}"
            )
        wanted = list(baselines.method_roles(cfg.method))
        if cfg.resume and bundle.meta.get("method", "ours") != cfg.method:
            raise TrainingError(f"{out} is a {bundle.meta.get('method', 'ours')!r} model, not {cfg.method!r}")
    if "mdn" in wanted and "features" not in wanted and "features" not in bundle.nets:
        raise TrainingError(
            "the MDN needs a feature network: add the features stage or pass --features MODEL"
        )
    if "mdn" in wanted and "vae" not in wanted and "vae" not in bundle.nets:
        raise TrainingError("the MDN needs a VAE: add the vae stage or resume a model that has one")

    # The data: cached once, streamed from disk.
    grey_size = (
        bundle.nets["features"].cfg.input_size
        if "features" in bundle.nets
        else COLORNET_PRESETS[cfg.preset].input_size
    )
    if cfg.method != "ours":
        grey_size = 64  # the baselines see the grey image at the colour field's size
    data: FolderData = yield from scan_folder(
        cfg.data, size=max(64, grey_size), cache_dir=cfg.cache_dir, max_images=cfg.max_images
    )
    train_idx, val_idx = data.split(cfg.val_fraction)
    if len(train_idx) < 2:
        raise TrainingError(
            f"{cfg.data}: only {len(data.files)} usable colour photos ({summarize_skips(data.skipped)}); need more to train"
        )
    sd = stages.StageData(data, train_idx, val_idx, cfg.batch_size, device, grey_size, seed=cfg.seed)

    if bundle.stats is None:
        acc = StatsAccumulator()
        for x in data.batches(train_idx, 256, shuffle=False):
            _, ab = sd.to_net(x)
            acc.add(ab)
        bundle.stats = acc.finish(weighting=cfg.weighting)

    meta = bundle.meta
    meta.setdefault("created", _dt.datetime.now().isoformat(timespec="seconds"))
    meta.update(
        name=cfg.name or meta.get("name") or out.stem,
        trained_on=str(Path(cfg.data).resolve()),
        preset=cfg.preset,
        split={
            "val_fraction": cfg.val_fraction, "n_train": int(len(train_idx)), "n_val": int(len(val_idx)),
            "rule": "crc32(relative path) % 10000 < val_fraction * 10000",
        },
        skipped={k: len(v) for k, v in data.skipped.items()},
        loss_weights=asdict(cfg.loss_weights),
        weighting=cfg.weighting,
        mdn_loss=cfg.mdn_loss,
        end_to_end=cfg.end_to_end or bool(meta.get("end_to_end")),
        batch_size=cfg.batch_size,
        device=str(device),
        host=platform.node(),
        torch=str(torch.__version__),
        method=cfg.method,
        lr=cfg.lr,
    )  # fmt: skip
    history = meta.setdefault("history", {})
    wall = meta.setdefault("wall_s", {})
    resume_file = resume_path(out)
    resume_states = {}
    if cfg.resume and resume_file.is_file():
        try:
            resume_states = read_model_dict_like(resume_file, device)
        except ModelFileError:
            resume_states = {}

    retrained: set[str] = set()  # stages that moved in this run
    for role in wanted:
        epochs = int(cfg.epochs.get(role, baselines.default_epochs(role, cfg.epochs)))
        done = int(progress.get(role, 0))
        if role == "mdn" and role in bundle.nets and retrained & {"features", "vae"}:
            # The MDN predicts the VAE's latents from the features: once either moved,
            # what it learned is stale, so it starts over.
            del bundle.nets[role]
            done, progress[role], history[role] = 0, 0, []
            resume_states.pop(role, None)
        if role in bundle.nets and done >= epochs:
            continue  # finished in an earlier run
        if role not in bundle.nets:
            bundle.nets[role] = _new_net(role, cfg.preset, cfg.skip_decoder).to(device)
        net = bundle.nets[role].to(device).to(memory_format=torch.channels_last)
        trained = [net]
        if role == "mdn" and cfg.end_to_end:
            trained.append(bundle.nets["features"])
        for n in trained:
            for p in n.parameters():
                p.requires_grad_(True)
        lr = cfg.lr_for(role)
        opt = _optimizer(torch.nn.ModuleList(trained), lr)
        saved = resume_states.get(role)
        if saved and saved.get("epochs_done") == done:
            try:
                opt.load_state_dict(saved["optimizer"])
            except ValueError:
                pass  # saved for other parameters (end to end switched on): a fresh optimizer
        state = stages.StageState(
            role, net, opt, epochs, epochs_done=done, history=list(history.get(role, []))
        )
        if role in baselines.ROLES:
            gen = baselines.train_stage(role, state, sd, bundle.stats, lr=lr, meta=meta)
        elif role == "features":
            gen = stages.train_features(state, sd, bundle.stats, lr=lr)
        elif role == "vae":
            gen = stages.train_vae(state, sd, bundle.stats, cfg.loss_weights, lr=lr)
        else:
            gen = stages.train_mdn(
                state, sd, bundle.nets["features"], bundle.nets["vae"], lr=lr, loss=cfg.mdn_loss,
                end_to_end=cfg.end_to_end,
            )  # fmt: skip
        t_stage = time.monotonic()
        wall_before = float(wall.get(role, 0.0))
        for rec in gen:
            if rec.kind == "epoch":
                retrained.add(role)
                progress[role] = state.epochs_done
                history[role] = state.history
                wall[role] = wall_before + time.monotonic() - t_stage
                meta["progress"] = dict(progress)
                # Files from before the reused epochs were recorded lack them.
                reused = (
                    {"features": meta["features_from"].get("epochs", 0)} if "features_from" in meta else {}
                )
                meta["epochs"] = {  # what each network has had, here or (reused) elsewhere
                    r: progress.get(r, reused.get(r, 0))
                    for r in (*STAGE_ORDER, *baselines.ROLES)
                    if r in bundle.nets
                }
                resume_states[role] = {"epochs_done": state.epochs_done, "optimizer": opt.state_dict()}
                atomic_save({"format": "divcolor-resume", "version": 1, "states": resume_states}, resume_file)
                save_model(bundle, out)
            yield rec
        for n in trained:
            n.eval()
            for p in n.parameters():
                p.requires_grad_(False)
    if not out.exists():  # nothing left to train, but the stats or reuse changed
        save_model(bundle, out)
    return out


def read_model_dict_like(path: Path, device) -> dict:
    """The resume sidecar: same safety rules as a model file (weights_only)."""
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path.name}: unreadable resume state ({e})") from None
    if not isinstance(obj, dict) or obj.get("format") != "divcolor-resume":
        raise ModelFileError(f"{path.name}: not a divcolor resume file")
    return obj.get("states", {})


__all__ = ["TrainConfig", "TrainingError", "run_training", "resume_path", "read_model_dict"]
