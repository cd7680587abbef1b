""" "Ours+skip" (paper Table 3): the VAE whose decoder also sees the grey image
through skip connections, z multiplied with the 4x4 grey map. The same network,
trained with prior sampling, is the CVAE baseline (paper section 6.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .grey_encoder import GREY_ENCODER_PRESETS, GreyEncoder, GreyEncoderConfig
from .vae import VAE_PRESETS, ColourEncoder, Decoder, VAEConfig, reparameterize


@dataclass
class SkipVAEConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)  # colour encoder and decoder sizes
    grey: GreyEncoderConfig = field(default_factory=GreyEncoderConfig)  # grey encoder sizes
    condition_encoder: bool = False  # CVAE: the colour encoder also sees the grey image


SKIP_VAE_PRESETS = {
    name: SkipVAEConfig(vae=VAE_PRESETS[name], grey=GREY_ENCODER_PRESETS[name])
    for name in ("paper", "compact", "tiny")
}


class SkipVAE(nn.Module):
    """The VAE interface (vae.VAE) with `needs_grey`: every call takes the grey image."""

    needs_grey = True

    def __init__(self, cfg: SkipVAEConfig):
        super().__init__()
        if cfg.grey.z_dim != cfg.vae.z_dim:
            raise ValueError("the grey encoder's 4x4 map must have the VAE's z_dim channels")
        if cfg.vae.linear_path:
            raise ValueError(
                "the linear path is the plain VAE's: the skip decoder reads the grey image instead"
            )
        self.cfg = cfg
        self.encoder = ColourEncoder(cfg.vae, in_channels=3 if cfg.condition_encoder else 2)
        self.grey_encoder = GreyEncoder(cfg.grey)
        self.decoder = Decoder(cfg.vae, skip_channels=self.grey_encoder.skip_channels)

    def encode(self, ab: torch.Tensor, grey: torch.Tensor | None = None):
        x = torch.cat([ab, _required(grey)], 1) if self.cfg.condition_encoder else ab
        return self.encoder(x)

    def forward(self, ab: torch.Tensor, grey: torch.Tensor | None = None):
        """ab (B, 2, 64, 64), grey (B, 1, 64, 64) -> reconstruction, mu, logvar."""
        mu, logvar = self.encode(ab, grey)
        return self.decoder(reparameterize(mu, logvar), self.grey_encoder(_required(grey))), mu, logvar

    def decode(self, z: torch.Tensor, grey: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, d); grey (1 or N, 1, 64, 64)."""
        g = self.grey_encoder(_required(grey))
        if g[0].shape[0] != z.shape[0]:
            g = [t.expand(z.shape[0], *t.shape[1:]) for t in g]
        return self.decoder(z, g)


def _required(grey: torch.Tensor | None) -> torch.Tensor:
    if grey is None:
        raise ValueError("this VAE's decoder sees the grey image (needs_grey): pass grey (B, 1, 64, 64)")
    return grey
