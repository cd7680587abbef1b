"""The mixture density network from grey features G to the VAE's embedding z
(paper section 4 and 6.2): 5 convs -> FC -> FC(K*d + K), K Gaussians with a
fixed spherical variance; pi by softmax."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .layers import conv_relu_bn


@dataclass
class MDNConfig:
    in_channels: int = 512  # channels of G
    in_size: int = 28  # side of G
    widths: tuple[int, ...] = (384, 320, 288, 256, 128)  # the five convs
    strides: tuple[int, ...] = (1, 1, 1, 2, 1)
    kernel: int = 5
    fc_width: int = 4096
    dropout: float = 0.0  # on the FC layer; helps small training sets
    n_components: int = 8  # K
    z_dim: int = 64  # d
    variance: float = 0.1  # the fixed spherical variance of every component


MDN_PRESETS = {
    "paper": MDNConfig(),
    "compact": MDNConfig(
        in_channels=128, in_size=8, widths=(128, 128, 96, 96, 64), kernel=3,
        fc_width=512, dropout=0.2,
    ),
    "tiny": MDNConfig(
        in_channels=16, in_size=8, widths=(16, 16, 16, 16, 8), kernel=3, fc_width=32, z_dim=16,
    ),
}  # fmt: skip


class MDN(nn.Module):
    def __init__(self, cfg: MDNConfig):
        super().__init__()
        self.cfg = cfg
        layers, c_in, size = [], cfg.in_channels, cfg.in_size
        for w, s in zip(cfg.widths, cfg.strides, strict=True):
            layers.append(conv_relu_bn(c_in, w, cfg.kernel, stride=s))
            c_in, size = w, (size + s - 1) // s
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * size * size, cfg.fc_width),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.fc_width, cfg.n_components * cfg.z_dim + cfg.n_components),
        )

    def forward(self, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G (B, C, s, s) -> pi logits (B, K), means (B, K, d)."""
        return self.read_out(self.hidden(G))

    def hidden(self, G: torch.Tensor) -> torch.Tensor:
        """The FC layer's output (B, fc_width), from which pi and the means are read."""
        return self.fc[:-1](self.convs(G))

    def read_out(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc[-1](h)
        K, d = self.cfg.n_components, self.cfg.z_dim
        return out[:, :K], out[:, K:].view(-1, K, d)

    def weights_readout(self) -> tuple[torch.Tensor, torch.Tensor]:
        """pi's logits read-out: the last layer's first K rows, weight (K, fc_width) and bias."""
        K, last = self.cfg.n_components, self.fc[-1]
        return last.weight[:K], last.bias[:K]

    @torch.no_grad()
    def set_weights_readout(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Replace pi's read-out (trainer/ranking.py); the means' rows stay as they are."""
        w, b = self.weights_readout()
        w.copy_(weight)
        b.copy_(bias)
