"""The grey-level feature network: a colorization network of Zhang et al.'s kind.

It is trained by per-pixel classification of ab into the 313 in-gamut bins with
class rebalancing; once trained it is frozen and the output of its trunk (the
paper's conv-7, 28x28x512 for a 224x224 input) is the MDN's input G.

Trunk: blocks of 3x3 convs (ReLU, BatchNorm); the first blocks end with a
stride-2 conv, the middle ones are dilated as in Zhang's network.
Head: U(2) -> 3x3 convs -> 1x1 to 313 logits at a quarter of the input size.

The `residual` trunk (our addition, docs/method.md section 9) is a ResNet-style one: a
3x3 stem with the first stride, then stages of residual blocks, each stage's first block
striding; `reduce` ends it with a 1x1 conv to that many channels, so a wide trunk still
gives G the shape an MDN preset expects.

The `inverted` trunk (the `lite128` preset) is the first five stages of EfficientNet-Lite0
(Tan & Le; inverted residual blocks: 1x1 expansion, depthwise k x k, 1x1 projection, ReLU6),
with TensorFlow's "same" padding and BatchNorm epsilon, so that the ImageNet weights of
`trainer/imagenet.py` fit it as they were trained. Its grey input is turned into the sRGB
grey that network saw (`lab.net_to_srgb_grey`), and its first `frozen_stages` stages keep those
weights: generic edges and textures, which also need no backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import lab
from ..lab import N_BINS
from .layers import conv_relu_bn


@dataclass
class ColorNetConfig:
    input_size: int = 224  # side of the square grey input
    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512)  # one per block (conv1..conv7)
    depths: tuple[int, ...] = (2, 2, 3, 3, 3, 3, 3)  # convs per block
    strides: tuple[int, ...] = (2, 2, 2, 1, 1, 1, 1)  # stride of each block's last conv
    dilations: tuple[int, ...] = (1, 1, 1, 1, 2, 2, 1)  # dilation inside each block
    head_width: int = 256  # Zhang's conv8
    head_depth: int = 3
    n_bins: int = N_BINS
    # A rank-`readout` linear map from G to the 64x64 colour field, for features trained to
    # predict the field itself (the "field" feature loss); 0: none.
    readout: int = 0
    # How many fields the read-out gives from that rank (the "hypotheses" feature loss: each
    # photo learns from the nearest of them); 1: the field loss's one.
    hypotheses: int = 1
    residual: bool = False  # residual blocks (depths = blocks per stage; dilations unused)
    reduce: int = 0  # a final 1x1 conv to this many channels of G; 0: none
    # Inverted residual stages (depths = blocks a stage; strides[0] is the stem's, whose width
    # is `stem`; dilations unused), each stage with its depthwise kernel and expansion.
    inverted: bool = False
    stem: int = 0
    kernels: tuple[int, ...] = ()
    expansions: tuple[int, ...] = ()
    frozen_stages: int = 0  # the stem and this many first stages are not trained
    imagenet: bool = False  # a new network starts from ImageNet weights (trainer/imagenet.py)

    @property
    def feature_channels(self) -> int:
        return self.reduce or self.widths[-1]

    @property
    def feature_size(self) -> int:
        s = self.input_size
        for st in self.strides:
            s //= st
        return s


COLORNET_PRESETS = {
    "paper": ColorNetConfig(),
    # 64x64 input, G = 8x8x128: the same 1/8 ratio as the paper's 224 -> 28, sized to
    # train at ~160 images/s on a 2-core CPU.
    "compact": ColorNetConfig(
        input_size=64, widths=(16, 32, 64, 128, 128, 128, 128), depths=(1, 1, 2, 2, 2, 2, 2),
        head_width=64, head_depth=1,
    ),
    "tiny": ColorNetConfig(
        input_size=64, widths=(8, 16, 16, 16), depths=(1, 1, 1, 1), strides=(2, 2, 2, 1),
        dilations=(1, 1, 1, 2), head_width=16, head_depth=1,
    ),
    # A residual trunk for features trained for the colour field itself: G has the compact
    # MDN's shape (8x8x128). One block a stage: ~150 images/s on a 2-core CPU with the field
    # loss, where two blocks a stage gave 120 and the compact trunk 280.
    "residual": ColorNetConfig(
        input_size=64, widths=(64, 128, 256), depths=(1, 1, 1), strides=(2, 2, 2),
        dilations=(1, 1, 1), head_width=64, head_depth=1, residual=True, reduce=128,
    ),
    # The same trunk on a 128x128 grey input (four stride-2 stages, G still 8x8x128): twice
    # the detail for ~0.6x the speed (~85 images/s for the trunk alone on a 2-core CPU).
    "residual128": ColorNetConfig(
        input_size=128, widths=(32, 64, 128, 256), depths=(1, 1, 1, 1), strides=(2, 2, 2, 2),
        dilations=(1, 1, 1, 1), head_width=64, head_depth=1, residual=True, reduce=128,
    ),
    # EfficientNet-Lite0's first five stages on a 128x128 grey input, from its ImageNet
    # weights, the first three kept (G 8x8x128 after the 1x1 reduce). Trained on the colour
    # field it reads colour better than the residual trunks (docs/method.md, section 9).
    "lite128": ColorNetConfig(
        input_size=128, widths=(16, 24, 40, 80, 112), depths=(1, 2, 2, 3, 3),
        strides=(2, 2, 2, 2, 1), dilations=(1, 1, 1, 1, 1), head_width=64, head_depth=1,
        reduce=128, inverted=True, stem=32, kernels=(3, 3, 5, 3, 5), expansions=(1, 6, 6, 6, 6),
        frozen_stages=3, imagenet=True,
    ),
}  # fmt: skip

LITE_BN_EPS = 1e-3  # EfficientNet's BatchNorm epsilon, which its weights were trained with


class SameConvBN(nn.Module):
    """Conv (no bias) with TensorFlow's "same" padding (where the padding is odd, its extra
    row and column on the far side), BatchNorm, then ReLU6 unless `act` is False."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.k, self.stride, self.act = k, stride, act
        self.conv = nn.Conv2d(c_in, c_out, k, stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=LITE_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((-(-size // self.stride) - 1) * self.stride + self.k - size, 0)
            pads += [total // 2, total - total // 2]
        x = self.bn(self.conv(F.pad(x, pads)))
        return F.relu6(x) if self.act else x


class InvertedResidual(nn.Module):
    """1x1 expansion (none at 1), depthwise k x k / stride, 1x1 projection without an
    activation; the input added back when the shape stays."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, expansion: int):
        super().__init__()
        mid = c_in * expansion
        self.expand = SameConvBN(c_in, mid, 1) if expansion != 1 else nn.Identity()
        self.depthwise = SameConvBN(mid, mid, k, stride, groups=mid)
        self.project = SameConvBN(mid, c_out, 1, act=False)
        self.keeps_shape = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.depthwise(self.expand(x)))
        return x + h if self.keeps_shape else h


class SrgbGrey(nn.Module):
    """Network grey (L) -> the sRGB grey an ImageNet network saw, scaled as EfficientNet-Lite
    was: (255 v - 127) / 128."""

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        return (lab.net_to_srgb_grey(grey) * 255 - 127) / 128


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (projected when the shape changes), ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def _plain_trunk(cfg: ColorNetConfig) -> list[nn.Module]:
    blocks, c_in = [], 1
    for w, n, s, d in zip(cfg.widths, cfg.depths, cfg.strides, cfg.dilations, strict=True):
        layers = []
        for i in range(n):
            stride = s if i == n - 1 else 1
            layers.append(conv_relu_bn(c_in, w, 3, stride=stride, dilation=d if stride == 1 else 1))
            c_in = w
        blocks.append(nn.Sequential(*layers))
    return blocks


def _residual_trunk(cfg: ColorNetConfig) -> list[nn.Module]:
    blocks: list[nn.Module] = [conv_relu_bn(1, cfg.widths[0], 3, stride=cfg.strides[0])]
    c_in = cfg.widths[0]
    for i, (w, n) in enumerate(zip(cfg.widths, cfg.depths, strict=True)):
        stride = cfg.strides[i] if i else 1  # the first stage's stride is the stem's
        blocks.append(
            nn.Sequential(
                *(ResidualBlock(c_in if j == 0 else w, w, stride if j == 0 else 1) for j in range(n))
            )
        )
        c_in = w
    return blocks


def _inverted_trunk(cfg: ColorNetConfig) -> list[nn.Module]:
    """Input transform and stem (module 0), then one module per stage."""
    blocks: list[nn.Module] = [nn.Sequential(SrgbGrey(), SameConvBN(1, cfg.stem, 3, cfg.strides[0]))]
    c_in = cfg.stem
    stages = zip(cfg.widths, cfg.depths, cfg.strides, cfg.kernels, cfg.expansions, strict=True)
    for i, (w, n, s, k, e) in enumerate(stages):
        stride = s if i else 1  # the first stage's stride is the stem's
        blocks.append(
            nn.Sequential(
                *(InvertedResidual(c_in if j == 0 else w, w, k, stride if j == 0 else 1, e) for j in range(n))
            )
        )
        c_in = w
    return blocks


def _trunk(cfg: ColorNetConfig) -> list[nn.Module]:
    if cfg.inverted:
        return _inverted_trunk(cfg)
    return _residual_trunk(cfg) if cfg.residual else _plain_trunk(cfg)


class ColorNet(nn.Module):
    def __init__(self, cfg: ColorNetConfig):
        super().__init__()
        self.cfg = cfg
        blocks = _trunk(cfg)
        if cfg.reduce:
            blocks.append(conv_relu_bn(cfg.widths[-1], cfg.reduce, 1))
        self.trunk = nn.Sequential(*blocks)
        c_in = cfg.feature_channels
        head = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
        for _ in range(cfg.head_depth):
            head.append(conv_relu_bn(c_in, cfg.head_width, 3))
            c_in = cfg.head_width
        head.append(nn.Conv2d(c_in, cfg.n_bins, 1))
        self.head = nn.Sequential(*head)
        if cfg.readout:
            self._build_readout()
        self.keep_frozen()

    def frozen(self) -> list[nn.Module]:
        """The trunk's stem and first `frozen_stages` stages (none unless configured)."""
        if not self.cfg.frozen_stages:
            return []
        return list(self.trunk[: 1 + self.cfg.frozen_stages])

    def keep_frozen(self) -> None:
        """The frozen part gets no gradient; call after anything that sets requires_grad."""
        for m in self.frozen():
            m.requires_grad_(False)

    def train(self, mode: bool = True) -> ColorNet:
        """As nn.Module's, but the frozen part's BatchNorm keeps its running statistics."""
        super().train(mode)
        for m in self.frozen():
            m.eval()
        return self

    def _build_readout(self) -> None:
        g = self.cfg.feature_channels * self.cfg.feature_size**2
        # Linear through a narrow middle: the field's leading modes, learned (no activation).
        fields = self.cfg.hypotheses * 2 * 64 * 64
        self.readout = nn.Sequential(
            nn.Flatten(), nn.Linear(g, self.cfg.readout), nn.Linear(self.cfg.readout, fields)
        )

    def ensure_readout(self, rank: int, hypotheses: int = 1) -> None:
        """Add the field read-out (a network trained on the 313 bins goes on with the field
        loss), or widen a one-field read-out to `hypotheses` fields (the field loss goes on
        with the hypotheses or shared-cast loss); its config records it, so the file rebuilds it.

        The widened read-out's fields start as the one field's map, each with its own noise
        of half that map's spread: copies alone would stay alike, since only the nearest one
        of each photo learns from it."""
        if not self.cfg.readout:
            self.cfg = replace(self.cfg, readout=rank, hypotheses=hypotheses)
            self._build_readout()
        elif self.cfg.hypotheses == 1 < hypotheses:
            _, rank_map, old = self.readout
            self.cfg = replace(self.cfg, hypotheses=hypotheses)
            self._build_readout()
            self.readout[1] = rank_map
            new = self.readout[2]
            with torch.no_grad():
                w = old.weight.repeat(hypotheses, 1)
                new.weight.copy_(w + torch.randn_like(w) * old.weight.std() / 2)
                new.bias.copy_(old.bias.repeat(hypotheses))

    def predict_fields(self, grey: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, hypotheses, 2, 64, 64) ab/128 through the linear read-out of G."""
        return self.readout(self.trunk(grey)).view(-1, self.cfg.hypotheses, 2, 64, 64)

    def predict_field(self, grey: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, 2, 64, 64) ab/128: the read-out's first (or only) field."""
        return self.predict_fields(grey)[:, 0]

    def features(self, grey: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) grey in [-1, 1] -> G (B, C, S/8, S/8) (S/16 for lite128)."""
        return self.trunk(grey)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, 313, S/4, S/4) bin logits."""
        return self.head(self.trunk(grey))
