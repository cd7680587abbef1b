"""The networks, one per file, each with a dataclass config and presets
(`paper`: the paper's sizes; `compact`: the bundled models; `tiny`: tests)."""

from __future__ import annotations

from .cgan import CGAN, CGANConfig, PatchDiscriminator, PatchDiscriminatorConfig, UNetConfig, UNetGenerator
from .colornet import ColorNet, ColorNetConfig
from .grey_encoder import GreyEncoder, GreyEncoderConfig
from .mdn import MDN, MDNConfig
from .vae import VAE, VAEConfig
from .vae_skip import SkipVAE, SkipVAEConfig

NETWORKS = {cls.__name__: (cls, cfg) for cls, cfg in [
    (ColorNet, ColorNetConfig),
    (VAE, VAEConfig),
    (SkipVAE, SkipVAEConfig),
    (MDN, MDNConfig),
    (GreyEncoder, GreyEncoderConfig),
    (CGAN, CGANConfig),  # the cGAN baseline (generator + discriminator)
    (UNetGenerator, UNetConfig),
    (PatchDiscriminator, PatchDiscriminatorConfig),
]}  # fmt: skip

__all__ = [
    "NETWORKS", "ColorNet", "ColorNetConfig", "GreyEncoder", "GreyEncoderConfig",
    "MDN", "MDNConfig", "SkipVAE", "SkipVAEConfig", "VAE", "VAEConfig",
    "CGAN", "CGANConfig", "PatchDiscriminator", "PatchDiscriminatorConfig", "UNetConfig", "UNetGenerator",
]  # fmt: skip
