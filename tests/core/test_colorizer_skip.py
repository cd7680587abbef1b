"""An "ours+skip" model (the decoder also sees the grey photo) through the same
Colorizer API as the plain VAE: decoding needs the photo's analysis, and the
photo's grey levels change what a latent decodes to."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divcolor_gui.core.checkpoint import ModelBundle
from divcolor_gui.core.colorizer import Colorizer
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNet
from divcolor_gui.core.nets.mdn import MDN, MDN_PRESETS
from divcolor_gui.core.nets.vae_skip import SKIP_VAE_PRESETS, SkipVAE
from divcolor_gui.core.photo import Photo


def _photo(L: torch.Tensor) -> Photo:
    rgb = np.repeat((L.numpy() * 2.55).astype(np.uint8)[..., None], 3, axis=2)
    return Photo(path=None, L=L, rgb=rgb, is_colour=False, source_mode="L")


@pytest.fixture
def skip_colorizer() -> Colorizer:
    torch.manual_seed(0)
    nets = {
        "features": ColorNet(COLORNET_PRESETS["tiny"]).eval(),
        "vae": SkipVAE(SKIP_VAE_PRESETS["tiny"]).eval(),
        "mdn": MDN(MDN_PRESETS["tiny"]).eval(),
    }
    return Colorizer(ModelBundle(nets=nets, meta={"name": "skip"}), torch.device("cpu"))


def test_skip_model_decodes_with_the_photo(skip_colorizer):
    c = skip_colorizer
    assert c.needs_photo_to_decode
    ramp = torch.linspace(0, 100, 96)[None].repeat(80, 1)  # a left-to-right grey ramp
    a = c.analyze(_photo(ramp))
    with pytest.raises(ValueError, match="pass decode"):
        c.decode(a.means[:2])
    fields = c.decode(a.means[:3], a)
    assert fields.shape == (3, 2, 64, 64) and torch.isfinite(fields).all()
    # The same latent over another photo decodes differently: the grey levels reach the decoder.
    b = c.analyze(_photo(ramp.flip(1)))
    assert not torch.allclose(c.decode(a.means[:1], a), c.decode(a.means[:1], b))
    _, modes = c.colorize(_photo(ramp), k=2)
    assert len(modes) == 2 and modes[0][1].shape == (80, 96, 3)
