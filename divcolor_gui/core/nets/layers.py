"""Building blocks shared by the networks: the paper's C_ReLU(k, s, n) -> B."""

from __future__ import annotations

import torch.nn as nn


def conv_relu_bn(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv k x k / stride, ReLU, then BatchNorm (the paper's order, after DCGAN)."""
    layers: list[nn.Module] = []
    if stride == 1 and k % 2 == 0:
        # 'same' for an even kernel (the decoder's 4 x 4) pads one more on the far side.
        layers.append(nn.ZeroPad2d((k // 2 - 1, k // 2, k // 2 - 1, k // 2)))
        pad = 0
    else:
        pad = dilation * (k - 1) // 2
    return nn.Sequential(
        *layers,
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, dilation=dilation),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
    )


def up_conv_relu_bn(c_in: int, c_out: int, k: int, scale: int) -> nn.Sequential:
    """U(scale) bilinear, then conv_relu_bn."""
    return nn.Sequential(
        nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False),
        conv_relu_bn(c_in, c_out, k),
    )
