"""Comparing methods on one test set: the paper's Tables 1-3 and a Figure 7.

    gen = compare({"ours": "faces.pt", "cvae": "faces-cvae.pt", "cgan": "faces-cgan.pt"}, "data/faces",
                  figure="fig7.png")
    # it yields ScanProgress, then (done, total) records; the dict is its return value,
    # StopIteration's value (`divcolor eval` drains it with cli._drain)

Every method sees the same images, in the same order, at 64x64 with ab/128:
- "ours", "ours-skip": the MDN's top-k means by weight, decoded (section 6.2).
- "cvae", "cgan": 256 samples per image clustered by k-means to k centres,
  largest cluster first (section 5, 6.3; trainer/baselines.py).
- "per-pixel": k independent per-pixel draws from the feature network's 313-bin
  distribution (Figure 2's strawman), from the "ours" model file.
Table 3 (error-of-best, variance) is computed for every method. Tables 1 and 2
(reconstruction error with z = the encoder's mean) only for methods with a colour
encoder (ours, ours-skip, cvae). Weighted MAE uses one set of bin weights for all
methods: the "ours" model's, else the first model's that has statistics.
Randomness: image i's CVAE draws and k-means seed are `seed + i`; the cGAN's dropout
uses the global torch RNG, seeded once with `seed` when the pass starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from divcolor_gui.core import lab, metrics
from divcolor_gui.core.checkpoint import ModelBundle, load_model
from divcolor_gui.core.device import resolve_device
from divcolor_gui.core.output_paths import atomic_path
from divcolor_gui.core.photo import PhotoError, read_rgb8

from .baselines import K_DIVERSE, N_SAMPLES
from .data import VAL_FRACTION, model_val_fraction, scan_folder, trained_on
from .methods import METHODS, Method, get_method
from .paper import PAPER_T3, PAPER_TABLE1, PAPER_TABLE2


@dataclass
class LoadedMethod:
    """One method (methods.METHODS) with its model file's networks, ready for batches."""

    method: Method
    path: Path
    bundle: ModelBundle

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def grey_size(self) -> int:
        """Side of the grey input its first network takes (the feature network's, else 64)."""
        if self.method.reads_features:
            return self.bundle.nets["features"].cfg.input_size
        return lab.FIELD_SIZE

    def diverse(self, grey: torch.Tensor, g64: torch.Tensor, k: int, n: int, seed: int) -> torch.Tensor:
        """grey (B, 1, S, S) at grey_size, g64 (B, 1, 64, 64) -> (B, k, 2, 64, 64) ab/128,
        fitted to the gamut at each cell's lightness, as they are rendered (lab.fit_gamut)."""
        fields = self.method.diverse(self.bundle, grey, g64, k, n, seed)
        return lab.fit_modes_to_grey(fields, g64)

    def reconstruct(self, g64: torch.Tensor, ab: torch.Tensor) -> torch.Tensor | None:
        """Table 1/2's reconstruction, z = the colour encoder's mean; None without one."""
        net = self.bundle.nets.get(self.method.reconstruct_role or "")
        if net is None:
            return None
        mu, _ = net.encode(ab, g64)
        return net.decode(mu, g64).float()


def load_method(name: str, path: str | Path, device: torch.device | str = "cpu") -> LoadedMethod:
    method = get_method(name)
    bundle = load_model(path, device)
    missing = [r for r in method.roles if r not in bundle.nets]
    if missing:
        raise ValueError(
            f"{Path(path).name} has no {', '.join(missing)} network, so it is not a {name!r} model "
            f"(it holds: {', '.join(bundle.nets) or 'nothing'})"
        )
    if name == "ours-skip" and not bundle.nets["vae"].needs_grey:
        raise ValueError(f"{Path(path).name}: its VAE has no grey skips (train it with --method ours-skip)")
    for net in bundle.nets.values():
        net.eval()
    return LoadedMethod(method, Path(path), bundle)


def _figure_L(root: Path, rel: str, cached: np.ndarray, tile: int) -> torch.Tensor:
    """(tile, tile) Lab L of the original photo (squashed to a square, as the networks
    see it); the cached copy if the original cannot be read any more."""
    try:
        rgb, _ = read_rgb8(root / rel, draft_side=2 * tile)
    except (PhotoError, OSError):
        rgb = cached
    small = np.asarray(Image.fromarray(rgb).resize((tile, tile), Image.BICUBIC, reducing_gap=2.0))
    return lab.rgb_to_l(torch.from_numpy(small.copy()).permute(2, 0, 1).float() / 255)


def compare(
    models: dict[str, str | Path], data_dir: str | Path, split: str = "auto", k: int = K_DIVERSE,
    n_samples: int = N_SAMPLES, batch_size: int = 32, max_images: int | None = None,
    device: str | torch.device = "auto", seed: int = 0, figure: str | Path | None = None,
    figure_rows: int = 4, figure_tile: int = 96,
):  # fmt: skip
    """Generator: yields ScanProgress while caching, then (done, total); returns
    {"methods": {name: {"eob", "var", "top1_mae", ["vae_mae", "vae_mae_grid", "vae_wmae",
    "vae_wmae_grid"], "model", "seconds_per_image"}}, "n_images", "split", ...}.

    split: "val" (the held-out photos of models trained on this folder), "all", or
    "auto" (val when any model was trained on this folder, else all).
    figure: also write a Figure-7-like PNG of the first `figure_rows` test images.
    """
    if not models:
        raise ValueError("compare: no methods given")
    dev = resolve_device(device)
    methods = {name: load_method(name, path, dev) for name, path in models.items()}
    for m in methods.values():
        if "mdn" in m.method.roles and m.bundle.nets["mdn"].cfg.n_components < k:
            raise ValueError(
                f"{m.path.name}: its MDN has {m.bundle.nets['mdn'].cfg.n_components} components, fewer than k = {k}"
            )
    root = Path(data_dir).resolve()
    sizes = sorted({lab.FIELD_SIZE, *(m.grey_size for m in methods.values())})
    data = yield from scan_folder(data_dir, size=max(sizes), max_images=max_images)

    here = [m for m in methods.values() if trained_on(m.bundle.meta, root)]
    if split == "auto":
        split = "val" if here else "all"
    if split == "val":
        fractions = {model_val_fraction(m.bundle.meta) for m in here} or {VAL_FRACTION}
        if len(fractions) > 1:
            raise ValueError(
                f"the models were trained on {root} with different validation fractions {sorted(fractions)}, "
                "so they have no common held-out set: use --split all on a separate test folder"
            )
        _, idx = data.split(fractions.pop())
    elif split == "all":
        idx = np.arange(len(data.files))
    else:
        raise ValueError(f"unknown split {split!r}: val, all or auto")
    if len(idx) == 0:
        raise ValueError(f"{data_dir}: no usable colour photos in the {split} split")
    ranked = sorted(methods.values(), key=lambda m: m.name != "ours")
    weights_from = next((m for m in ranked if m.bundle.stats is not None), None)
    if weights_from is None:
        raise ValueError("none of the models carries dataset statistics (bin weights) for Table 2")
    bin_weights = weights_from.bundle.stats.bin_weights.to(dev)

    torch.manual_seed(seed)
    sums: dict[str, dict[str, float]] = {name: {} for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    kept: dict[str, list[torch.Tensor]] = {name: [] for name in methods}
    kept_ab: list[torch.Tensor] = []
    n = 0
    with torch.inference_mode():
        for x in data.batches(idx, batch_size, shuffle=False):
            x = x.to(dev)
            greys = {}
            for s in sizes:
                greys[s], ab = lab.rgb_uint8_to_net(x, s)
            g64 = greys[lab.FIELD_SIZE]
            ab = ab.float()
            B = ab.shape[0]
            room = max(0, figure_rows - n) if figure else 0
            for name, m in methods.items():
                t0 = time.perf_counter()
                div = m.diverse(greys[m.grey_size], g64, k, n_samples, seed + n)
                rec = m.reconstruct(g64, ab)
                seconds[name] += time.perf_counter() - t0
                rows = {
                    "eob": metrics.error_of_best(div, ab),
                    "var": metrics.diversity_variance(div),
                    "top1_mae": metrics.mae(div[:, 0], ab),
                }
                if rec is not None:
                    rows.update(
                        vae_mae=metrics.mae(rec, ab),
                        vae_mae_grid=metrics.mae(rec, ab, grid=True),
                        vae_wmae=metrics.weighted_mae(rec, ab, bin_weights),
                        vae_wmae_grid=metrics.weighted_mae(rec, ab, bin_weights, grid=True),
                    )
                acc = sums[name]
                for key, v in rows.items():
                    acc[key] = acc.get(key, 0.0) + v.sum().item()
                if room:
                    kept[name].append(div[:room].cpu())
            if room:
                kept_ab.append(ab[:room].cpu())
            n += B
            yield (n, len(idx))

    result = {
        "data": str(root), "split": split, "n_images": n, "k": k, "n_samples": n_samples, "seed": seed,
        "weights_from": weights_from.name, "figure": None,
        "methods": {
            name: {
                **{key: v / n for key, v in sums[name].items()},
                "model": str(methods[name].path), "seconds_per_image": seconds[name] / n,
            }
            for name in methods
        },
    }  # fmt: skip
    if figure:
        rows = min(figure_rows, n)
        L = torch.stack([
            _figure_L(data.root, data.files[i], data.images[i], figure_tile) for i in idx[:rows]
        ])  # fmt: skip
        columns = {METHODS[name].label: torch.cat(kept[name])[:rows] for name in methods}
        result["figure"] = str(make_figure(figure, L, columns, torch.cat(kept_ab)[:rows]))
    return result


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def make_figure(
    out: str | Path, L: torch.Tensor, columns: dict[str, torch.Tensor], truth: torch.Tensor,
    gap: int = 2, group_gap: int = 10,
) -> Path:  # fmt: skip
    """Write a PNG laid out like the paper's Figure 7 and return its path.

    L (N, T, T) Lab L in [0, 100] at the tile size; columns: label -> (N, k, 2, 64, 64)
    ab/128, one group of k tiles per method, left to right; truth (N, 2, 64, 64) is
    the last column ("GT"). Rows are images. Each field is put over the image's own L.
    """
    N, T = L.shape[0], L.shape[-1]
    groups = [(label, fields) for label, fields in columns.items()] + [("GT", truth[:, None])]
    font = _font(max(10, T // 7))
    head = max(18, T // 4)
    widths = [f.shape[1] * T + (f.shape[1] - 1) * gap for _, f in groups]
    W = sum(widths) + group_gap * (len(groups) + 1)
    H = head + N * T + (N - 1) * gap + group_gap
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    x0 = group_gap
    for (label, fields), gw in zip(groups, widths):
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        draw.text(
            (x0 + (gw - right + left) / 2 - left, (head - bottom + top) / 2 - top),
            label,
            fill="black",
            font=font,
        )
        for r in range(N):
            for c in range(fields.shape[1]):
                rgb = lab.combine(L[r], fields[r, c], mode="bilinear")
                canvas.paste(Image.fromarray(rgb), (x0 + c * (T + gap), head + r * (T + gap)))
        x0 += gw + group_gap
    out = Path(out)
    with atomic_path(out) as tmp:
        canvas.save(tmp)
    return out


def format_comparison(result: dict, paper_key: str | None = None) -> str:
    """The tables as text, the paper's figures beside ours where it has them."""
    ms = result["methods"]
    label = {"faces": "LFW", "churches": "Church", "general": "ImageNet-Val"}.get(paper_key or "", "-")
    lines = [
        f"{result['data']} ({result['split']} split, {result['n_images']} images, ab/128 at 64x64; "
        f"k = {result['k']}, baselines cluster {result['n_samples']} samples)",
        "",
        f"Tables 1-2: reconstruction with z = the encoder's mean (paper: {label}, the VAE with all losses)",
        f"{'method':<12}{'MAE all':>10}{'paper':>8}{'MAE grid':>10}{'wMAE all*':>11}{'paper':>8}{'wMAE grid*':>12}",
    ]
    for name, r in ms.items():
        if "vae_mae" not in r:
            continue
        p1 = f"{PAPER_TABLE1[paper_key]}" if name == "ours" and paper_key in PAPER_TABLE1 else "-"
        p2 = f"{PAPER_TABLE2[paper_key]}" if name == "ours" and paper_key in PAPER_TABLE2 else "-"
        lines.append(
            f"{METHODS[name].label:<12}{r['vae_mae']:>10.4f}{p1:>8}{r['vae_mae_grid']:>10.4f}"
            f"{r['vae_wmae']:>11.4f}{p2:>8}{r['vae_wmae_grid']:>12.4f}"
        )
    lines += [
        "",
        f"Table 3: diverse colorizations (paper: {label})",
        f"{'method':<12}{'Eob':>9}{'paper':>8}{'Var':>11}{'paper':>10}{'top-1 MAE':>11}{'s/image':>9}",
    ]
    for name, r in ms.items():
        p = PAPER_T3.get(name, {}).get(paper_key or "")
        pe, pv = (f"{p[0]:.3f}", f"{p[1]:.1e}") if p else ("-", "-")
        lines.append(
            f"{METHODS[name].label:<12}{r['eob']:>9.4f}{pe:>8}{r['var']:>11.2e}{pv:>10}"
            f"{r['top1_mae']:>11.4f}{r['seconds_per_image']:>9.3f}"
        )
    lines += [
        f"* weights from the {METHODS[result['weights_from']].label} model, normalised to mean 1 over its training data;",
        "  the paper's are unnormalised 1/p, so only ratios between rows compare with its column.",
    ]
    if result.get("figure"):
        lines.append(f"figure: {result['figure']}")
    return "\n".join(lines)
