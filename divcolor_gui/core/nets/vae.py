"""The VAE on 64 x 64 ab colour fields (paper section 3 and 6.1).

Encoder: 64x64x2 -> C(5,2,w0) -> C(5,2,w1) -> C(5,2,w2) -> C(4,2,w3) -> FC(2d) = mu, log sigma^2.
Decoder: 1x1xd -> U(4) -> C(4,1,w0) -> [U(2) -> C(5,1,w)] for w1..w3 -> U(2) -> C_tanh(5,1,2).
The encoder's widths run (128, 256, 512, 1024) in the paper; the decoder's mirror them.

`linear_path` (ours, docs/method.md section 9) adds a linear map beside the convolutions in
both directions, field -> mu and z -> field (before the tanh), set at the start of training to
the training fields' principal components (`init_linear_path`): 64 components reconstruct a
field better than the compact convolutions learn to, which then learn only what they miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..lab import FIELD_SIZE
from .layers import conv_relu_bn, up_conv_relu_bn

FIELD_CELLS = FIELD_SIZE * FIELD_SIZE
INITIAL_LOGVAR = -8.0  # the linear path's starting posterior: sigma .018, against ab/128 errors of ~.03


@dataclass
class VAEConfig:
    z_dim: int = 64  # d, the embedding size (the paper uses 64 for all datasets)
    enc_widths: tuple[int, ...] = (128, 256, 512, 1024)  # the four strided convs
    dec_widths: tuple[int, ...] = (1024, 512, 256, 128)  # 4x4, 8x8, 16x16, 32x32 stages
    # A linear field <-> z map beside the convs, a PCA at the start (ours; --vae-linear-path).
    linear_path: bool = False


VAE_PRESETS = {
    "paper": VAEConfig(),
    # Live decoding and CPU training on 2 cores: about a fifth of the paper's width.
    "compact": VAEConfig(enc_widths=(32, 64, 128, 256), dec_widths=(192, 96, 48, 24)),
    "tiny": VAEConfig(z_dim=16, enc_widths=(8, 8, 16, 16), dec_widths=(16, 8, 8, 8)),
}


class ColourEncoder(nn.Module):
    """(B, 2, 64, 64) ab/128 -> mu, logvar, each (B, d)."""

    def __init__(self, cfg: VAEConfig, in_channels: int = 2):
        super().__init__()
        w = cfg.enc_widths
        self.convs = nn.Sequential(
            conv_relu_bn(in_channels, w[0], 5, stride=2),  # 32x32
            conv_relu_bn(w[0], w[1], 5, stride=2),  # 16x16
            conv_relu_bn(w[1], w[2], 5, stride=2),  # 8x8
            conv_relu_bn(w[2], w[3], 4, stride=2),  # 4x4
        )
        self.fc = nn.Linear(w[3] * 4 * 4, 2 * cfg.z_dim)
        self.linear = nn.Linear(in_channels * FIELD_CELLS, cfg.z_dim) if cfg.linear_path else None

    def forward(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(self.convs(ab).flatten(1))
        mu, logvar = h.chunk(2, dim=1)
        if self.linear is not None:
            mu = mu + self.linear(ab.flatten(1))
        return mu, logvar.clamp(-20, 10)  # keeps exp() finite early in training


class Decoder(nn.Module):
    """(B, d) -> (B, 2, 64, 64) ab/128 in (-1, 1).

    `skip_channels` (c8, c16, c32) adds grey-level features concatenated at the
    8x8, 16x16 and 32x32 stages, and `forward` then takes the 4x4 grey map that
    multiplies z (the "ours+skip" and CVAE decoders).

    The trunk (the 4x4 to 32x32 stages) runs in its weights' dtype: `trunk_to_bfloat16`
    is for live decoding on a CPU with bfloat16 arithmetic. The last conv, the linear path
    and the tanh always run in float32, so that the field's last bits are not bfloat16's.
    """

    def __init__(self, cfg: VAEConfig, skip_channels: tuple[int, int, int] | None = None):
        super().__init__()
        w = cfg.dec_widths
        s = skip_channels or (0, 0, 0)
        self.skip = skip_channels is not None
        self.up4 = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False)
        self.c4 = conv_relu_bn(cfg.z_dim, w[0], 4)  # 4x4
        self.c8 = up_conv_relu_bn(w[0] + s[0], w[1], 5, 2)  # 8x8
        self.c16 = up_conv_relu_bn(w[1] + s[1], w[2], 5, 2)  # 16x16
        self.c32 = up_conv_relu_bn(w[2] + s[2], w[3], 5, 2)  # 32x32
        self.out = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(w[3], 2, 5, padding=2),
            nn.Tanh(),
        )
        self.linear = nn.Linear(cfg.z_dim, 2 * FIELD_CELLS) if cfg.linear_path else None

    def trunk_to_bfloat16(self) -> Decoder:
        """The trunk's weights in bfloat16 (in place): on a CPU with bfloat16 instructions its
        convolutions, most of a decode, take about a quarter less time. For showing colours
        only, never for training; docs/method.md section 6 gives what it changes."""
        for stage in (self.c4, self.c8, self.c16, self.c32):
            stage.to(torch.bfloat16)
        return self

    def forward(self, z: torch.Tensor, grey: list[torch.Tensor] | None = None) -> torch.Tensor:
        trunk = self.c4[-1].weight.dtype  # the BatchNorm's: every stage ends in one
        h = self.up4(z[:, :, None, None].to(trunk))  # (B, d, 4, 4)
        if self.skip:
            g4, g8, g16, g32 = (g.to(trunk) for g in grey)  # type: ignore[union-attr]
            h = h * g4
            h = self.c4(h)
            h = self.c8[1](torch.cat([self.c8[0](h), g8], 1))
            h = self.c16[1](torch.cat([self.c16[0](h), g16], 1))
            h = self.c32[1](torch.cat([self.c32[0](h), g32], 1))
        else:
            h = self.c32(self.c16(self.c8(self.c4(h))))
        h = h.float()
        if self.linear is None:
            return self.out(h)
        up, conv, tanh = self.out
        return tanh(conv(up(h)) + self.linear(z.float()).view(-1, 2, FIELD_SIZE, FIELD_SIZE))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class VAE(nn.Module):
    """The one interface of every VAE here (this one, SkipVAE, the CVAE): `encode(ab, grey)`,
    `decode(z, grey)`, `forward(ab, grey)`, and `needs_grey`, which says whether `grey`
    (B, 1, 64, 64) is used. This one ignores it, so callers pass it without asking."""

    needs_grey = False

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ColourEncoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, ab: torch.Tensor, grey: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2, 64, 64) -> mu, logvar."""
        return self.encoder(ab)

    def forward(self, ab: torch.Tensor, grey: torch.Tensor | None = None):
        """(B, 2, 64, 64) -> reconstruction, mu, logvar."""
        mu, logvar = self.encoder(ab)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar

    def decode(self, z: torch.Tensor, grey: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def init_linear_path(self, fields: torch.Tensor) -> None:
        """Start as a PCA of `fields` (N, 2, 64, 64) ab/128, the training photos':
        mu = the whitened principal coefficients, decode(z) = tanh(atanh(mean) + components
        @ (std * z)) ~ the PCA reconstruction, and the convolutions' last layers at zero, so
        they learn only what the components miss. A small posterior variance at first: the KL
        term raises it as training goes."""
        enc, dec, d = self.encoder, self.decoder, self.cfg.z_dim
        X = fields.flatten(1).double()
        mean = X.mean(0)
        with torch.random.fork_rng():  # the same start on every process of a run
            torch.manual_seed(0)
            _, S, V = torch.svd_lowrank(X - mean, q=min(d + 10, *X.shape), niter=4)
        k = min(d, V.shape[1])  # a folder of fewer photos than d: its k directions, the rest 0
        P = V[:, :k].float()  # (2 * 64 * 64, k) orthonormal columns
        std = (S[:k] / (len(X) - 1) ** 0.5).float()
        std = std.clamp_min(std[0] * 1e-3)  # a direction the fields hardly take stays bounded
        enc.linear.weight.zero_()
        enc.linear.weight[:k] = (P / std).T
        enc.linear.bias.zero_()
        enc.linear.bias[:k] = -(mean.float() @ P) / std
        enc.fc.weight.zero_()
        enc.fc.bias.zero_()
        enc.fc.bias[d:] = INITIAL_LOGVAR
        dec.linear.weight.zero_()
        dec.linear.weight[:, :k] = P * std
        dec.linear.bias.copy_(torch.atanh(mean.float().clamp(-0.99, 0.99)))
        conv = dec.out[1]
        conv.weight.zero_()
        conv.bias.zero_()
