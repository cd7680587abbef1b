"""Every colorization method, chosen by name from one table (as pix2pix's `models/`).

    method = METHODS["cvae"]
    net = method.new_net("cvae", "compact")                  # a fresh network for a role
    gen = method.train("cvae", state, sd, run)               # that role's training stage
    fields = method.diverse(bundle, grey, g64, k, n, seed)   # (B, k, 2, 64, 64) at test time

A method's networks are its roles: the names they have in its model file, in training
order. `divcolor train --method`, `divcolor eval --methods` and the Trainer tab all look a
method up here; nothing else tests a method's name.

- ours: the paper's method (feature network, VAE, MDN; stages.py).
- ours-skip: the same with the "ours+skip" decoder, which also sees the grey image.
- cvae, cgan: the paper's baselines (baselines.py).
- per-pixel: Figure 2's strawman, sampled from an "ours" model's feature network; it
  trains nothing of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from divcolor_gui.core.checkpoint import ModelBundle
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.nets.cgan import CGAN, CGAN_PRESETS
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from divcolor_gui.core.nets.mdn import MDN, MDN_PRESETS
from divcolor_gui.core.nets.vae import VAE, VAE_PRESETS
from divcolor_gui.core.nets.vae_skip import SKIP_VAE_PRESETS, SkipVAE, SkipVAEConfig
from divcolor_gui.core.stats import DatasetStats
from divcolor_gui.core.vocabulary import CAST_WEIGHT, METHOD_LABELS, STAGE_ORDER, TRAINABLE_METHODS

from . import baselines, stages
from .loop import Progress, StageData, StageState


@dataclass
class RunSettings:
    """What a role's stage takes from the run besides its own network and the data."""

    stats: DatasetStats
    lr: float
    nets: dict[str, nn.Module]  # the model's networks (the MDN reads the features and the VAE)
    meta: dict = field(default_factory=dict)  # the model file's; a baseline records its setup here
    loss_weights: LossWeights = field(default_factory=LossWeights)
    features_loss: str = "bins"
    shift: int = 0  # where the feature network learns, its photos' random shifts (stages.random_shifts)
    mdn_loss: str = "latent"
    cast_weight: float = CAST_WEIGHT
    end_to_end: bool = False


Stage = Generator[Progress, None, None]


@dataclass(frozen=True)
class Method:
    name: str  # one of vocabulary.METHOD_LABELS
    roles: tuple[str, ...]  # the networks its model file holds, in training order
    new_net: Callable[[str, str], nn.Module]  # (role, preset) -> a fresh network
    train: Callable[[str, StageState, StageData, RunSettings], Stage] | None  # None: trains nothing
    # (bundle, grey at the first network's size, grey at 64, k, samples n, seed) -> (B, k, 2, 64, 64)
    diverse: Callable[[ModelBundle, torch.Tensor, torch.Tensor, int, int, int], torch.Tensor]
    reconstruct_role: str | None = None  # the VAE that Tables 1-2 reconstruct with, if any
    reads_features: bool = False  # its grey input is the feature network's, else the field's size
    default_epochs_from: str | None = None  # a role without its own --epochs entry trains this long

    @property
    def label(self) -> str:
        """Its column in comparisons and figures."""
        return METHOD_LABELS[self.name]

    def epochs_for(self, role: str, epochs: dict[str, int]) -> int:
        """The epochs a role trains: its own entry, else (a baseline) the VAE's; the
        paper trains every method for 10 epochs."""
        if role in epochs:
            return int(epochs[role])
        return int(epochs.get(self.default_epochs_from or role, 10))


# ----------------------------------------------------------------------------- ours


def _ours_net(skip: bool) -> Callable[[str, str], nn.Module]:
    def new_net(role: str, preset: str) -> nn.Module:
        builders = {
            "features": lambda: ColorNet(COLORNET_PRESETS[preset]),
            "vae": lambda: SkipVAE(SKIP_VAE_PRESETS[preset]) if skip else VAE(VAE_PRESETS[preset]),
            "mdn": lambda: MDN(MDN_PRESETS[preset]),
        }
        return builders[role]()

    return new_net


_OURS_STAGES = {
    "features": lambda state, sd, run: stages.train_features(
        state, sd, run.stats, lr=run.lr, loss=run.features_loss, shift=run.shift
    ),
    "vae": lambda state, sd, run: stages.train_vae(state, sd, run.stats, run.loss_weights, lr=run.lr),
    "mdn": lambda state, sd, run: stages.train_mdn(
        state, sd, run.nets["features"], run.nets["vae"], lr=run.lr, loss=run.mdn_loss,
        cast_weight=run.cast_weight, end_to_end=run.end_to_end, shift=run.shift,
    ),
}  # fmt: skip


def _train_ours(role: str, state: StageState, sd: StageData, run: RunSettings) -> Stage:
    return _OURS_STAGES[role](state, sd, run)


def _diverse_ours(bundle, grey, g64, k, n, seed):
    """The MDN's top-k means by weight, decoded (section 6.2)."""
    nets = bundle.nets
    vae = nets["vae"]
    logits, means = nets["mdn"](nets["features"].features(grey))
    order = torch.argsort(logits, 1, descending=True)[:, :k]
    top = torch.gather(means, 1, order[..., None].expand(-1, -1, means.shape[-1]))
    B = top.shape[0]
    g = g64.repeat_interleave(k, 0) if vae.needs_grey else None
    return vae.decode(top.reshape(B * k, -1), g).float().view(B, k, 2, 64, 64)


# ----------------------------------------------------------------------------- baselines


def _baseline_net(role: str, preset: str) -> nn.Module:
    if role == "cvae":
        base = SKIP_VAE_PRESETS[preset]
        return SkipVAE(SkipVAEConfig(vae=base.vae, grey=base.grey, condition_encoder=True))
    return CGAN(CGAN_PRESETS[preset])


def _train_cvae(role, state, sd, run: RunSettings) -> Stage:
    # The run's own loss weights describe our decoder, so the file records the CVAE's.
    run.meta.setdefault("baseline", {})[role] = {"loss_weights": asdict(baselines.CVAE_LOSS), "lr": run.lr}
    return baselines.train_cvae(state, sd, run.stats, lr=run.lr)


def _train_cgan(role, state, sd, run: RunSettings) -> Stage:
    lr = run.lr * baselines.CGAN_LR_FACTOR
    setup = {"l1_weight": baselines.CGAN_L1_WEIGHT, "lr": lr, "betas": list(baselines.CGAN_BETAS)}
    run.meta.setdefault("baseline", {})[role] = setup
    return baselines.train_cgan(state, sd, lr=lr)


def _diverse_sampled(name: str):
    """n samples per image clustered to k (section 5, 6.3)."""

    def diverse(bundle, grey, g64, k, n, seed):
        return baselines.diverse_colorizations(name, bundle.nets[name], g64, k=k, n=n, seed=seed)

    return diverse


def _diverse_per_pixel(bundle, grey, g64, k, n, seed):
    """Image i draws with seed + i, whatever the batch size."""
    net = bundle.nets["features"]
    return torch.cat([
        baselines.per_pixel_samples(net, grey[i : i + 1], k, generator=torch.Generator().manual_seed(seed + i))
        for i in range(grey.shape[0])
    ])  # fmt: skip


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ours", STAGE_ORDER, _ours_net(skip=False), _train_ours, _diverse_ours,
               reconstruct_role="vae", reads_features=True),
        Method("ours-skip", STAGE_ORDER, _ours_net(skip=True), _train_ours, _diverse_ours,
               reconstruct_role="vae", reads_features=True),
        Method("cvae", ("cvae",), _baseline_net, _train_cvae, _diverse_sampled("cvae"),
               reconstruct_role="cvae", default_epochs_from="vae"),
        Method("cgan", ("cgan",), _baseline_net, _train_cgan, _diverse_sampled("cgan"),
               default_epochs_from="vae"),
        Method("per-pixel", ("features",), _ours_net(skip=False), None, _diverse_per_pixel,
               reads_features=True),
    )
}  # fmt: skip
# Every role any method's model file can hold, in the order a model card lists them.
ALL_ROLES = tuple(dict.fromkeys(r for m in METHODS.values() for r in m.roles))


def get_method(name: str, trainable: bool = False) -> Method:
    """METHODS[name], or ValueError naming the choices."""
    choices = TRAINABLE_METHODS if trainable else tuple(METHODS)
    if name not in choices:
        raise ValueError(f"unknown method {name!r}: choose from {', '.join(choices)}")
    return METHODS[name]
