"""Grey-level encoder for the skip decoder and the CVAE (docs/method.md, section 3.3):
64x64 grey -> C(5,2,w0) -> C(5,2,w1) -> C(5,2,w2) -> C(4,2,d) at 4x4.
Its 32x32, 16x16 and 8x8 maps feed the decoder's skips; the 4x4 map multiplies z."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .layers import conv_relu_bn


@dataclass
class GreyEncoderConfig:
    z_dim: int = 64  # channels of the 4x4 map, equal to the VAE's d
    widths: tuple[int, int, int] = (128, 256, 512)  # 32x32, 16x16, 8x8 maps


GREY_ENCODER_PRESETS = {
    "paper": GreyEncoderConfig(),
    "compact": GreyEncoderConfig(widths=(32, 64, 128)),
    "tiny": GreyEncoderConfig(z_dim=16, widths=(8, 8, 16)),
}


class GreyEncoder(nn.Module):
    def __init__(self, cfg: GreyEncoderConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.c32 = conv_relu_bn(1, w[0], 5, stride=2)
        self.c16 = conv_relu_bn(w[0], w[1], 5, stride=2)
        self.c8 = conv_relu_bn(w[1], w[2], 5, stride=2)
        # The 4x4 map multiplies z, so it ends without BatchNorm's re-centring.
        self.c4 = nn.Sequential(nn.Conv2d(w[2], cfg.z_dim, 4, stride=2, padding=1), nn.ReLU())

    @property
    def skip_channels(self) -> tuple[int, int, int]:
        """Channels of the maps the decoder concatenates at 8x8, 16x16, 32x32."""
        w = self.cfg.widths
        return (w[2], w[1], w[0])

    def forward(self, grey: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1, 64, 64) in [-1, 1] -> [g4, g8, g16, g32]."""
        g32 = self.c32(grey)
        g16 = self.c16(g32)
        g8 = self.c8(g16)
        return [self.c4(g8), g8, g16, g32]
