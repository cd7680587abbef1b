"""The inference API shared by the command line, the app and evaluation.

c = Colorizer.load("general", device="auto")
a = c.analyze("photo.jpg")           # grey features once, 8 components ranked by weight
fields = c.decode(a.means[:5])       # (5, 2, 64, 64) ab/128, any latents, batched
rgb = c.render(a.photo, fields[0])   # (H, W, 3) uint8 at full resolution
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import lab
from .checkpoint import ModelBundle, ModelFileError, load_model
from .device import cpu_has_bfloat16, resolve_device
from .hints import Hint, HintSolver
from .photo import Photo, load_photo
from .resources import find_model
from .vocabulary import STAGE_ORDER, fit_longer_side


def fit_L(L: torch.Tensor, max_side: int) -> torch.Tensor:
    """L (H, W) area-scaled so its longer side is at most max_side; L itself if it fits."""
    size = fit_longer_side(*L.shape, max_side)
    if size == tuple(L.shape):
        return L
    return F.interpolate(L[None, None], size=size, mode="area")[0, 0]


@dataclass
class Analysis:
    photo: Photo
    grey: torch.Tensor  # (1, 1, S, S) feature-network input on the model's device
    weights: np.ndarray  # (K,) mixture weights pi, descending
    means: torch.Tensor  # (K, d) component means in the same order, on the CPU
    seconds: float = 0.0
    _previews: dict = field(default_factory=dict, repr=False)  # max_side -> preview L
    _recombiners: dict = field(default_factory=dict, repr=False)  # (max_side, mode) -> Recombiner

    def preview_L(self, max_side: int) -> torch.Tensor:
        """The photo's L scaled so its longer side is at most max_side (cached)."""
        if max_side not in self._previews:
            self._previews[max_side] = fit_L(self.photo.L, max_side)
        return self._previews[max_side]

    def recombiner(self, max_side: int, mode: str = "guided") -> lab.Recombiner:
        """The preview's recombination with its L-only parts kept (cached): live slider
        moves recombine the same preview many times a second."""
        key = (max_side, mode)
        if key not in self._recombiners:
            self._recombiners[key] = lab.Recombiner(self.preview_L(max_side), mode=mode, keep=True)
        return self._recombiners[key]


class Colorizer:
    def __init__(self, bundle: ModelBundle, device: torch.device, source: Path | None = None):
        for role in STAGE_ORDER:
            if role not in bundle.nets:
                raise ModelFileError(
                    f"{source.name if source else 'model'}: has no {role!r} network, so it cannot colorize"
                )
        self.bundle = bundle
        self.device = device
        self.source = source
        self.features = bundle.nets["features"]
        # Channels-last weights (as load_model leaves every network) make the decoder's convs,
        # which start from a 1x1 latent so that nothing else sets the layout, about 1.5x
        # faster on a CPU: live decoding. A bundle built in memory gets them here too.
        self.vae = bundle.nets["vae"].to(memory_format=torch.channels_last)
        # What is shown decodes on a copy whose trunk runs in bfloat16 where the CPU has it (a
        # quarter off every decode, within ~2 ab units); the model's own VAE stays float32 for
        # what needs its exact function: evaluation, the hint solver's finite differences.
        self._shown_vae = self.vae
        if device.type == "cpu" and cpu_has_bfloat16():
            shared = {id(m): m for name, m in self.vae.named_children() if name != "decoder"}
            self._shown_vae = copy.deepcopy(self.vae, shared)  # a new decoder, the rest shared
            self._shown_vae.decoder.trunk_to_bfloat16()
        self.mdn = bundle.nets["mdn"]
        self.name = bundle.meta.get("name") or (source.stem if source else "model")

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str | torch.device = "auto") -> Colorizer:
        dev = resolve_device(device)
        path = find_model(name_or_path)
        return cls(load_model(path, dev), dev, source=path)

    @property
    def z_dim(self) -> int:
        return self.mdn.cfg.z_dim

    @property
    def grey_size(self) -> int:
        return self.features.cfg.input_size

    @torch.inference_mode()
    def analyze(self, photo: Photo | str | Path) -> Analysis:
        t0 = time.perf_counter()
        if not isinstance(photo, Photo):
            photo = load_photo(photo)
        grey = photo.grey_input(self.grey_size).to(self.device)
        logits, means = self.mdn(self.features.features(grey))
        pi = torch.softmax(logits[0].float(), 0)
        order = torch.argsort(pi, descending=True)
        return Analysis(
            photo=photo,
            grey=grey,
            weights=pi[order].cpu().numpy(),
            means=means[0, order].float().cpu(),
            seconds=time.perf_counter() - t0,
        )

    @property
    def needs_photo_to_decode(self) -> bool:
        """True for an "ours+skip" model: its decoder also sees the grey photo."""
        return self.vae.needs_grey

    @torch.inference_mode()
    def decode(
        self, z: torch.Tensor | np.ndarray, analysis: Analysis | None = None, exact: bool = False
    ) -> torch.Tensor:
        """(N, d) latents -> (N, 2, 64, 64) ab/128 on the CPU. A skip model's decoder
        also needs the photo: pass its analysis (harmless for the others). `exact`: the
        model's float32 decoder, not the faster one for showing colours (docs/method.md 6)."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim == 1:
            z = z[None]
        z = z.to(self.device)
        if self.vae.needs_grey and analysis is None:
            raise ValueError(f"{self.name} decodes with the photo's grey levels: pass decode(z, analysis)")
        grey = lab.grey_at_field_size(analysis.grey) if self.vae.needs_grey else None
        return (self.vae if exact else self._shown_vae).decode(z, grey).float().cpu()

    def render(
        self, photo: Photo | Analysis, field: torch.Tensor, max_side: int | None = None, mode: str = "guided"
    ) -> np.ndarray:
        """One (2, 64, 64) field over the photo's own L -> (H, W, 3) uint8; full
        resolution unless max_side asks for a preview."""
        if isinstance(photo, Analysis) and max_side is not None:
            with torch.inference_mode():
                return photo.recombiner(max_side, mode)(field)
        if isinstance(photo, Analysis):
            L = photo.photo.L
        else:
            L = photo.L if max_side is None else fit_L(photo.L, max_side)
        with torch.inference_mode():
            return lab.combine(L, field, mode=mode)

    def sample(
        self, analysis: Analysis, component: int, n: int, scale: float = 1.0, seed: int | None = None
    ) -> torch.Tensor:
        """n latents from one component's Gaussian (its fixed spherical variance)."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        std = (self.mdn.cfg.variance**0.5) * scale
        noise = torch.randn(n, self.z_dim, generator=g) * std
        return analysis.means[component][None] + noise

    def modes(
        self, photo: Photo | str | Path, k: int = 5, hints: list[Hint] | None = None
    ) -> tuple[Analysis, list[tuple[float, torch.Tensor]]]:
        """The top-k colour fields: (analysis, [(weight, (2, 64, 64) field), ...]), small;
        render each at full size when it is wanted. With hints, the hinted modes best
        first (core/hints.py), each with its starting component's weight."""
        a = self.analyze(photo)
        k = max(1, min(k, len(a.weights)))
        if hints:
            modes = HintSolver(self, a).solve(hints)[:k]
            return a, [(float(a.weights[m.component]), m.field) for m in modes]
        return a, [(float(w), f) for w, f in zip(a.weights[:k], self.decode(a.means[:k], a))]

    def colorize(
        self, photo: Photo | str | Path, k: int = 5, max_side: int | None = None, mode: str = "guided",
        hints: list[Hint] | None = None,
    ):  # fmt: skip
        """Top-k colorizations, all rendered: (analysis, [(weight, (H, W, 3) uint8), ...]).
        Every image is held at once; for large photos render `modes` one at a time."""
        a, fields = self.modes(photo, k, hints)
        return a, [(w, self.render(a, f, max_side=max_side, mode=mode)) for w, f in fields]
