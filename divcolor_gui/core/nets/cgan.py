"""The cGAN baseline (paper section 5; Isola et al.'s pix2pix): a U-Net generator
from the 64x64 grey image to the 64x64 ab/128 field, and a PatchGAN discriminator
on (grey, ab) pairs.

Generator, for 64x64 (six halvings to 1x1, where pix2pix's 256x256 has eight):
  encoder  C(4,2,w0) -> [LReLU(.2) -> C(4,2,w) -> B] for w1..w4 -> LReLU -> C(4,2,w5), no norm at 1x1
  decoder  [ReLU -> T(4,2,w) -> B (-> Dropout .5 on the first three)] back to 32x32, each output
           concatenated with the encoder map of the same size -> ReLU -> T(4,2,2) -> tanh
  (T is a transposed conv; pix2pix's own layer recipe, not the VAE's C_ReLU -> B order.)
Dropout is the only noise: the paper keeps it on at test time and draws 256
colorizations by repeated forward passes, so `NoiseDropout` ignores train/eval.
BatchNorm does follow eval() and uses its running statistics at test time (pix2pix
ran its test at batch size 1 in train mode, i.e. instance statistics; with
batches of repeated images running statistics are the well-defined choice).

Discriminator (pix2pix's default "70x70 PatchGAN", n_layers = 3):
  (grey, ab) -> C(4,2,w0) LReLU -> [C(4,2,w) B LReLU] w1, w2 -> C(4,1,w3) B LReLU -> C(4,1,1)
  -> (B, 1, 6, 6) real/fake logits, one per overlapping patch. At 64x64 each patch's
  70-pixel receptive field covers most of the image; fewer `widths` give smaller patches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class UNetConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512)  # encoder maps at 32, 16, 8, 4, 2, 1
    dropout: float = 0.5  # pix2pix's rate, kept on at test time as the noise source
    dropout_layers: int = 3  # the innermost decoder layers that carry dropout
    in_channels: int = 1  # grey L in [-1, 1]
    out_channels: int = 2  # ab / 128 through tanh


@dataclass
class PatchDiscriminatorConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512)  # last one at stride 1; len 4 = pix2pix n_layers 3
    in_channels: int = 3  # grey + ab


@dataclass
class CGANConfig:
    generator: UNetConfig = field(default_factory=UNetConfig)  # the U-Net from grey to ab
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)


UNET_PRESETS = {
    "paper": UNetConfig(),
    "compact": UNetConfig(widths=(32, 64, 128, 256, 256, 256)),
    "tiny": UNetConfig(widths=(8, 16, 16, 32, 32, 32)),
}
PATCH_D_PRESETS = {
    "paper": PatchDiscriminatorConfig(),
    "compact": PatchDiscriminatorConfig(widths=(32, 64, 128, 256)),
    "tiny": PatchDiscriminatorConfig(widths=(8, 16, 16, 16)),
}
CGAN_PRESETS = {
    name: CGANConfig(generator=UNET_PRESETS[name], discriminator=PATCH_D_PRESETS[name])
    for name in ("paper", "compact", "tiny")
}


class NoiseDropout(nn.Module):
    """Dropout that stays on in eval mode: the cGAN's only source of diversity."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True) if self.p > 0 else x


def _init_pix2pix(module: nn.Module) -> None:
    """pix2pix's initialisation: conv weights N(0, .02), BatchNorm scales N(1, .02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """(B, 1, 64, 64) grey in [-1, 1] -> (B, 2, 64, 64) ab/128 in (-1, 1)."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        n = len(w)
        down: list[nn.Module] = [nn.Conv2d(cfg.in_channels, w[0], 4, 2, 1)]
        for i in range(1, n):
            inner = i == n - 1  # the 1x1 bottleneck has no norm (a single value per channel)
            layers = [nn.LeakyReLU(0.2), nn.Conv2d(w[i - 1], w[i], 4, 2, 1, bias=inner)]
            if not inner:
                layers.append(nn.BatchNorm2d(w[i]))
            down.append(nn.Sequential(*layers))
        self.down = nn.ModuleList(down)
        up: list[nn.Module] = []
        for j, i in enumerate(range(n - 1, 0, -1)):  # from the bottleneck back to 32x32
            c_in = w[i] if i == n - 1 else 2 * w[i]
            layers = [
                nn.ReLU(),
                nn.ConvTranspose2d(c_in, w[i - 1], 4, 2, 1, bias=False),
                nn.BatchNorm2d(w[i - 1]),
            ]
            if j < cfg.dropout_layers:
                layers.append(NoiseDropout(cfg.dropout))
            up.append(nn.Sequential(*layers))
        self.up = nn.ModuleList(up)
        self.out = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(2 * w[0], cfg.out_channels, 4, 2, 1), nn.Tanh()
        )
        _init_pix2pix(self)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        skips = []
        h = grey
        for layer in self.down:
            h = layer(h)
            skips.append(h)  # 32, 16, ..., 1
        skips.pop()  # the bottleneck itself is not concatenated
        for layer in self.up:
            h = torch.cat([layer(h), skips.pop()], 1)
        return self.out(h)


class PatchDiscriminator(nn.Module):
    """grey (B, 1, 64, 64), ab (B, 2, 64, 64) -> (B, 1, h, w) patch logits."""

    def __init__(self, cfg: PatchDiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, w[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, len(w)):
            stride = 1 if i == len(w) - 1 else 2
            layers += [
                nn.Conv2d(w[i - 1], w[i], 4, stride, 1, bias=False),
                nn.BatchNorm2d(w[i]),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(w[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        _init_pix2pix(self)

    def forward(self, grey: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([grey, ab], 1))


class CGAN(nn.Module):
    """Both halves in one network, so one model-file role ("cgan") holds them and a
    resumed run continues the discriminator too. Inference uses `generator` alone."""

    def __init__(self, cfg: CGANConfig):
        super().__init__()
        self.cfg = cfg
        self.generator = UNetGenerator(cfg.generator)
        self.discriminator = PatchDiscriminator(cfg.discriminator)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """(B, 1, 64, 64) -> one (B, 2, 64, 64) colorization (a fresh dropout draw)."""
        return self.generator(grey)
