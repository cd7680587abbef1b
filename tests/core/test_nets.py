"""The networks: parameter counts of the paper presets from the paper's layer lists
(computed here by hand, layer by layer), and output shapes of the small presets.

Paper-size networks are built on the `meta` device: no memory, no initialisation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from divcolor_gui.core.nets import MDN, VAE, ColorNet, GreyEncoder, SkipVAE
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS
from divcolor_gui.core.nets.grey_encoder import GREY_ENCODER_PRESETS
from divcolor_gui.core.nets.mdn import MDN_PRESETS
from divcolor_gui.core.nets.vae import VAE_PRESETS
from divcolor_gui.core.nets.vae_skip import SKIP_VAE_PRESETS, SkipVAEConfig


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def on_meta(cls, cfg):
    with torch.device("meta"):
        return cls(cfg)


def conv(c_in: int, c_out: int, k: int, bn: bool = True) -> int:
    """A k x k conv's weights and biases, plus BatchNorm's scale and shift per channel."""
    return c_in * c_out * k * k + c_out + (2 * c_out if bn else 0)


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


D = 64  # the paper's d

# Paper section 6.1: 64x64x2 -> C(5,2,128) -> B -> C(5,2,256) -> B -> C(5,2,512) -> B -> C(4,2,1024) -> B
# -> F: mu and log sigma^2, 2d outputs from the 4x4x1024 map.
PAPER_ENCODER = (
    conv(2, 128, 5) + conv(128, 256, 5) + conv(256, 512, 5) + conv(512, 1024, 4) + fc(4 * 4 * 1024, 2 * D)
)
# 1x1xd -> U(4) -> C(4,1,1024) -> B -> U(2) -> C(5,1,512) -> B -> U(2) -> C(5,1,256) -> B -> U(2)
# -> C(5,1,128) -> B -> U(2) -> C_tanh(5,1,2)
PAPER_DECODER = (
    conv(D, 1024, 4) + conv(1024, 512, 5) + conv(512, 256, 5) + conv(256, 128, 5) + conv(128, 2, 5, bn=False)
)
# Paper section 6.2: 28x28x512 -> C(5,1,384) -> C(5,1,320) -> C(5,1,288) -> C(5,2,256) -> C(5,1,128), each
# with B -> FC(4096) on the 14x14x128 map -> FC(8d + 8)
PAPER_MDN = (
    conv(512, 384, 5) + conv(384, 320, 5) + conv(320, 288, 5) + conv(288, 256, 5) + conv(256, 128, 5)
    + fc(14 * 14 * 128, 4096) + fc(4096, 8 * D + 8)
)  # fmt: skip
# Zhang et al.'s trunk, conv1..conv7 (3x3 convs, each with B in this implementation).
_ZHANG = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3), (512, 3), (512, 3)]


def _zhang_trunk() -> int:
    total, c_in = 0, 1
    for width, depth in _ZHANG:
        for _ in range(depth):
            total += conv(c_in, width, 3)
            c_in = width
    return total


# Grey encoder (docs/method.md, section 3.3): 64x64 grey -> C(5,2,128) -> C(5,2,256) -> C(5,2,512) -> C(4,2,d), no B on the last.
PAPER_GREY = conv(1, 128, 5) + conv(128, 256, 5) + conv(256, 512, 5) + conv(512, D, 4, bn=False)
# The skip decoder: the 8x8, 16x16, 32x32 stages also take the grey maps (512, 256, 128 channels).
PAPER_SKIP_DECODER = (
    conv(D, 1024, 4) + conv(1024 + 512, 512, 5) + conv(512 + 256, 256, 5) + conv(256 + 128, 128, 5)
    + conv(128, 2, 5, bn=False)
)  # fmt: skip


def test_hand_counts_are_the_papers_orders_of_magnitude():
    """Sanity of the hand formulas themselves against docs/method.md's measured figures (section 9)."""
    assert PAPER_MDN == pytest.approx(117.85e6, rel=1e-3)
    assert fc(25088, 4096) == pytest.approx(103e6, rel=0.01)  # "its FC 25088 -> 4096 alone is 103 M"
    assert _zhang_trunk() == pytest.approx(28.9e6, rel=2e-3)
    assert PAPER_DECODER == pytest.approx(18e6, rel=0.02)


def test_paper_vae_parameter_count():
    vae = on_meta(VAE, VAE_PRESETS["paper"])
    assert n_params(vae.encoder) == PAPER_ENCODER
    assert n_params(vae.decoder) == PAPER_DECODER
    assert n_params(vae) == PAPER_ENCODER + PAPER_DECODER


def test_paper_mdn_parameter_count():
    assert n_params(on_meta(MDN, MDN_PRESETS["paper"])) == PAPER_MDN


def test_paper_colornet_trunk_parameter_count():
    net = on_meta(ColorNet, COLORNET_PRESETS["paper"])
    assert n_params(net.trunk) == _zhang_trunk()
    # Head: U(2) -> 3x (3x3 conv to 256, B) -> 1x1 conv to 313 bins.
    head = conv(512, 256, 3) + 2 * conv(256, 256, 3) + conv(256, 313, 1, bn=False)
    assert n_params(net.head) == head


def test_paper_skip_vae_parameter_count():
    net = on_meta(SkipVAE, SKIP_VAE_PRESETS["paper"])
    assert n_params(net.grey_encoder) == PAPER_GREY
    assert n_params(net.decoder) == PAPER_SKIP_DECODER
    assert n_params(net) == PAPER_ENCODER + PAPER_GREY + PAPER_SKIP_DECODER
    assert n_params(net) == pytest.approx(46e6, rel=0.02)  # docs/method.md's "~46 M" (section 9)


def test_paper_geometry():
    cfg = COLORNET_PRESETS["paper"]
    assert (cfg.input_size, cfg.feature_size, cfg.feature_channels) == (224, 28, 512)
    m = MDN_PRESETS["paper"]
    assert (m.in_channels, m.in_size, m.n_components, m.z_dim, m.variance) == (512, 28, 8, 64, 0.1)
    assert VAE_PRESETS["paper"].z_dim == 64


# ----------------------------------------------------------------------------- small presets


@pytest.mark.parametrize("preset", ["tiny", "compact"])
def test_vae_shapes(preset):
    torch.manual_seed(0)
    cfg = VAE_PRESETS[preset]
    vae = VAE(cfg).eval()
    ab = torch.rand(3, 2, 64, 64) * 0.6 - 0.3
    with torch.no_grad():
        rec, mu, logvar = vae(ab)
        dec = vae.decode(torch.randn(5, cfg.z_dim))
    assert rec.shape == (3, 2, 64, 64)
    assert mu.shape == logvar.shape == (3, cfg.z_dim)
    assert dec.shape == (5, 2, 64, 64)
    assert dec.abs().max() < 1  # tanh output


@pytest.mark.parametrize("kind", ["plain", "linear path", "skip"])
def test_a_bfloat16_trunk_decodes_as_float32_does(kind):
    """Decoder.trunk_to_bfloat16 (live decoding on CPUs with bfloat16): the same weights give
    a float32 field within a fraction of an ab unit of the float32 decoder's, and the grey
    skips are cast along."""
    torch.manual_seed(0)
    if kind == "skip":
        net = SkipVAE(SKIP_VAE_PRESETS["tiny"]).eval()
        d, grey = net.cfg.vae.z_dim, torch.rand(4, 1, 64, 64) * 2 - 1
    else:
        net = VAE(dataclasses.replace(VAE_PRESETS["compact"], linear_path=kind == "linear path")).eval()
        d, grey = net.cfg.z_dim, None
    z = torch.randn(4, d)
    with torch.no_grad():
        want = net.decode(z, grey)
        net.decoder.trunk_to_bfloat16()
        got = net.decode(z, grey)
    assert net.decoder.c16[1][0].weight.dtype == torch.bfloat16
    assert net.decoder.out[1].weight.dtype == torch.float32  # the last conv stays float32
    assert got.dtype == torch.float32
    diff = (got - want).abs() * 128  # ab units
    assert 0 < diff.max() < 2 and diff.mean() < 0.2


def test_a_linear_path_vae_starts_as_the_fields_pca():
    """init_linear_path: fields in a 6-dimensional subspace come back through mu and the
    decoder nearly exactly (the tanh bends them slightly), whatever the convolutions were;
    the same VAE without the init does not; the start's posterior variance is small."""
    torch.manual_seed(0)
    basis = torch.randn(6, 2 * 64 * 64) * 0.002  # fields of about .1 ab/128
    fields = (torch.randn(400, 6) @ basis + 0.05).view(-1, 2, 64, 64)
    vae = VAE(dataclasses.replace(VAE_PRESETS["tiny"], linear_path=True)).eval()
    test = fields[:20]
    with torch.no_grad():
        before = (vae.decode(vae.encode(test)[0]) - test).abs().mean()
        vae.init_linear_path(fields)
        mu, logvar = vae.encode(test)
        after = (vae.decode(mu) - test).abs().mean()
    assert after < 0.003 < 0.03 < before
    assert (logvar.exp() < 1e-3).all()
    assert mu.std(0)[:6].mean() == pytest.approx(1, abs=0.3)  # whitened coefficients
    with pytest.raises(ValueError, match="plain VAE"):
        SkipVAE(SkipVAEConfig(vae=vae.cfg, grey=GREY_ENCODER_PRESETS["tiny"]))


@pytest.mark.parametrize("preset", ["tiny", "compact", "residual", "residual128", "lite128"])
def test_colornet_shapes(preset):
    cfg = COLORNET_PRESETS[preset]
    net = ColorNet(cfg).eval()
    grey = torch.rand(2, 1, cfg.input_size, cfg.input_size) * 2 - 1
    with torch.no_grad():
        G = net.features(grey)
        logits = net(grey)
    fs = cfg.input_size // math.prod(cfg.strides)
    assert (
        G.shape
        == (2, cfg.feature_channels, fs, fs)
        == (2, cfg.feature_channels, cfg.feature_size, cfg.feature_size)
    )
    assert logits.shape == (2, 313, 2 * fs, 2 * fs)  # the head upsamples G twice


@pytest.mark.parametrize("preset", ["tiny", "compact"])
def test_mdn_shapes_and_it_fits_its_colornet(preset):
    cfg = MDN_PRESETS[preset]
    cn = COLORNET_PRESETS[preset]
    assert (cfg.in_channels, cfg.in_size) == (cn.feature_channels, cn.feature_size)
    assert cfg.z_dim == VAE_PRESETS[preset].z_dim
    mdn = MDN(cfg).eval()
    with torch.no_grad():
        logits, means = mdn(torch.rand(3, cfg.in_channels, cfg.in_size, cfg.in_size))
    assert logits.shape == (3, cfg.n_components)
    assert means.shape == (3, cfg.n_components, cfg.z_dim)


@pytest.mark.parametrize("preset", ["residual", "residual128"])
def test_the_residual_trunk_gives_the_compact_mdn_its_features(preset):
    """--features-preset residual(128) beside --preset compact: G has the compact MDN's shape;
    the trunk is residual blocks (a projected shortcut where the stage strides)."""
    res, mdn = COLORNET_PRESETS[preset], MDN_PRESETS["compact"]
    assert (res.feature_channels, res.feature_size) == (mdn.in_channels, mdn.in_size)
    net = ColorNet(res)
    blocks = [m for m in net.trunk.modules() if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == sum(res.depths)
    assert all(not isinstance(b.skip, torch.nn.Identity) for b in blocks[1:])  # each later stage strides


def test_the_lite_trunk_keeps_its_frozen_stages_as_they_are():
    """lite128: G has the compact MDN's shape; training moves the later stages only, and the
    frozen stem and first three stages keep their weights and BatchNorm statistics."""
    cfg, mdn = COLORNET_PRESETS["lite128"], MDN_PRESETS["compact"]
    assert (cfg.feature_channels, cfg.feature_size) == (mdn.in_channels, mdn.in_size)
    torch.manual_seed(0)
    net = ColorNet(cfg).train()
    frozen, trained = net.trunk[: 1 + cfg.frozen_stages], net.trunk[1 + cfg.frozen_stages :]
    assert not any(m.training for stage in frozen for m in stage.modules())
    assert all(m.training for stage in trained for m in stage.modules())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    grey = torch.rand(4, 1, 128, 128) * 2 - 1
    net.features(grey).square().mean().backward()
    opt.step()
    after = net.state_dict()
    for name in before:
        moved = not torch.equal(before[name], after[name])
        stage = int(name.split(".")[1]) if name.startswith("trunk.") else None
        if stage is not None and stage <= cfg.frozen_stages:
            assert not moved, name
    for name in ("trunk.4.0.depthwise.conv.weight", "trunk.4.0.depthwise.bn.running_mean"):
        assert not torch.equal(before[name], after[name]), name


def test_mdn_output_split_is_logits_then_means():
    """The last FC's first K outputs are pi's logits, the rest the K means in order."""
    cfg = MDN_PRESETS["tiny"]
    mdn = MDN(cfg).eval()
    G = torch.rand(2, cfg.in_channels, cfg.in_size, cfg.in_size)
    with torch.no_grad():
        raw = mdn.fc(mdn.convs(G))
        logits, means = mdn(G)
    K, d = cfg.n_components, cfg.z_dim
    torch.testing.assert_close(logits, raw[:, :K])
    torch.testing.assert_close(means[1, 3], raw[1, K + 3 * d : K + 4 * d])


@pytest.mark.parametrize("preset", ["tiny", "compact"])
def test_grey_encoder_shapes(preset):
    cfg = GREY_ENCODER_PRESETS[preset]
    enc = GreyEncoder(cfg).eval()
    with torch.no_grad():
        g4, g8, g16, g32 = enc(torch.rand(2, 1, 64, 64))
    w = cfg.widths
    assert g4.shape == (2, cfg.z_dim, 4, 4)
    assert g8.shape == (2, w[2], 8, 8) and g16.shape == (2, w[1], 16, 16) and g32.shape == (2, w[0], 32, 32)
    assert enc.skip_channels == (w[2], w[1], w[0])


@pytest.mark.parametrize("condition", [False, True])
def test_skip_vae_shapes(condition):
    base = SKIP_VAE_PRESETS["tiny"]
    cfg = SkipVAEConfig(vae=base.vae, grey=base.grey, condition_encoder=condition)
    net = SkipVAE(cfg).eval()
    d = cfg.vae.z_dim
    ab = torch.rand(3, 2, 64, 64) * 0.4 - 0.2
    grey = torch.rand(3, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        rec, mu, logvar = net(ab, grey)
        one_grey = net.decode(torch.randn(4, d), grey[:1])  # one photo, several latents
        per_grey = net.decode(torch.randn(3, d), grey)
    assert rec.shape == (3, 2, 64, 64) and mu.shape == logvar.shape == (3, d)
    assert one_grey.shape == (4, 2, 64, 64) and per_grey.shape == (3, 2, 64, 64)
    assert net.encoder.convs[0][0].in_channels == (3 if condition else 2)


def test_skip_vae_decoder_depends_on_the_grey_image():
    torch.manual_seed(1)
    net = SkipVAE(SKIP_VAE_PRESETS["tiny"]).eval()
    z = torch.randn(1, net.cfg.vae.z_dim)
    with torch.no_grad():
        a = net.decode(z, torch.rand(1, 1, 64, 64))
        b = net.decode(z, -torch.rand(1, 1, 64, 64))
    assert not torch.allclose(a, b)


def test_skip_vae_rejects_mismatched_z_dims():
    cfg = SkipVAEConfig(vae=VAE_PRESETS["tiny"], grey=GREY_ENCODER_PRESETS["compact"])
    with pytest.raises(ValueError, match="z_dim"):
        SkipVAE(cfg)
