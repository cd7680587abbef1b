"""`divcolor eval`: the paper's metrics for a model on a folder (docs/method.md, section 7).

Table 1/2: the VAE's reconstruction (z = the encoder's mean) -> MAE and weighted MAE,
all pixels and the centre grid. Table 3: the MDN's top-5 means decoded ->
error-of-best and variance. `--against` scores a second model on the same photos and
compares the two photo by photo (paired_difference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from divcolor_gui.core import lab, metrics
from divcolor_gui.core.colorizer import Colorizer
from divcolor_gui.core.vocabulary import SCORED_MODES

from .compare import LoadedMethod
from .data import NOTHING_SKIPPED, model_val_fraction, scan_folder, summarize_skips, trained_on
from .loop import StageData
from .methods import METHODS
from .paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3

# The figures `divcolor eval --against` compares photo by photo.
PAIRED_METRICS = {"eob": "error-of-best", "top1_mae": "MAE of the heaviest mode"}


def evaluate(
    colorizer: Colorizer,
    data_dir: str | Path,
    split: str = "auto",
    k: int = SCORED_MODES,
    batch_size: int = 128,
    val_fraction: float | None = None,
    max_images: int | None = None,
    per_photo: bool = False,
):
    """Generator (yields progress tuples (done, total)); returns a dict of metrics.

    per_photo also returns each photo's PAIRED_METRICS, with its file, under "per_photo"
    (for paired_difference)."""
    k = min(k, colorizer.mdn.cfg.n_components)  # an MDN of fewer components is scored on all
    data = yield from scan_folder(data_dir, size=max(64, colorizer.grey_size), max_images=max_images)
    meta = colorizer.bundle.meta
    same_folder = trained_on(meta, data_dir)
    if split == "auto":
        split = "val" if same_folder else "all"
    if split == "val":
        vf = val_fraction if val_fraction is not None else model_val_fraction(meta)
        _, idx = data.split(vf)
    elif split == "all":
        idx = torch.arange(len(data.files)).numpy()
    else:
        raise ValueError(f"unknown split {split!r}: val, all or auto")
    if len(idx) == 0:
        raise ValueError(f"{data_dir}: no usable colour photos in the {split} split")
    dev = colorizer.device
    sd = StageData(data, idx, idx, batch_size, dev, colorizer.grey_size)
    stats = colorizer.bundle.stats
    # The same decoding as the comparison's "ours" column (trainer/compare.py).
    name = "ours-skip" if colorizer.vae.needs_grey else "ours"
    method = LoadedMethod(METHODS[name], colorizer.source or Path("model"), colorizer.bundle)
    sums: dict[str, float] = {}
    photos: dict[str, list[float]] = {key: [] for key in PAIRED_METRICS}
    n = 0
    with torch.inference_mode():
        for x in data.batches(idx, batch_size, shuffle=False):
            grey, ab = sd.to_net(x)
            g64 = lab.grey_at_field_size(grey)
            rec = method.reconstruct(g64, ab)
            dec = method.diverse(grey, g64, k, n=0, seed=0)
            B = dec.shape[0]
            ab = ab.float()
            rows = {
                "vae_mae": metrics.mae(rec, ab),
                "vae_mae_grid": metrics.mae(rec, ab, grid=True),
                "vae_wmae": metrics.weighted_mae(rec, ab, stats.bin_weights),
                "vae_wmae_grid": metrics.weighted_mae(rec, ab, stats.bin_weights, grid=True),
                "eob": metrics.error_of_best(dec, ab),
                "var": metrics.diversity_variance(dec),
                "tint_var": metrics.tint_variance(dec),
                "grey_mae": metrics.grey_mae(ab),
                "top1_mae": metrics.mae(dec[:, 0], ab),
                "chroma_true": metrics.chroma(ab),
                "chroma_top1": metrics.chroma(dec[:, 0]),
                "chroma_topk": metrics.chroma(dec).mean(1),
            }
            for key, v in rows.items():
                sums[key] = sums.get(key, 0.0) + v.sum().item()
            for key in photos if per_photo else ():
                photos[key] += rows[key].tolist()
            n += B
            yield (n, len(idx))
    result = {key: v / n for key, v in sums.items()}
    # A ratio of the set's means, not a mean of per-photo ratios: a photo whose modes hardly
    # differ would otherwise weigh as much as one whose modes differ a lot.
    result["tint_share"] = result["tint_var"] / max(result["var"], 1e-12)
    result.update(n_images=n, split=split, k=k, model=colorizer.name, data=str(Path(data_dir).resolve()),
                  skipped=summarize_skips(data.skipped))  # fmt: skip
    if per_photo:  # the batches keep idx's order
        result["per_photo"] = {"files": [str(data.files[i]) for i in idx], **photos}
    return result


def paired_difference(ours: dict, theirs: dict) -> dict:
    """Two evaluations' "per_photo" records -> for each PAIRED_METRICS key, over the photos
    both scored: the mean of (ours - theirs), its standard error, and theirs alone. Two
    models err on many of the same photos, so this tells a real difference from the spread
    of the photos far more finely than the two means do (docs/method.md, sections 7 and 9)."""
    where = {f: i for i, f in enumerate(theirs["files"])}
    pairs = [(i, where[f]) for i, f in enumerate(ours["files"]) if f in where]
    if len(pairs) < 2:
        raise ValueError("the two models scored fewer than 2 photos in common: nothing to pair")
    a, b = np.array(pairs).T
    out: dict = {"n_paired": len(pairs)}
    for key in PAIRED_METRICS:
        t = np.asarray(theirs[key])[b]
        d = np.asarray(ours[key])[a] - t
        out[key] = {
            "diff": float(d.mean()),
            "se": float(d.std(ddof=1) / np.sqrt(len(d))),
            "theirs": float(t.mean()),
        }
    return out


def format_report(r: dict, paper_key: str | None = None) -> str:
    p3 = PAPER_TABLE3.get(paper_key or "", None)
    p_eob = f"{p3['eob']:.3f}" if p3 else "-"
    p_var = f"{p3['var']:.1e}" if p3 else "-"
    lines = [
        f"{r['model']} on {r['data']} ({r['split']} split, {r['n_images']} images, ab/128 at 64x64)",
        *(
            [f"  files not used: {r['skipped']}"]
            if r.get("skipped", NOTHING_SKIPPED) != NOTHING_SKIPPED
            else []
        ),
        f"{'metric':<34}{'ours':>10}{'paper':>10}",
        f"{'VAE MAE, all pixels (T1)':<34}{r['vae_mae']:>10.4f}{_p(PAPER_TABLE1, paper_key):>10}",
        f"{'VAE MAE, centre 8x8 grid (T1)':<34}{r['vae_mae_grid']:>10.4f}{'':>10}",
        f"{'VAE weighted MAE, all (T2)*':<34}{r['vae_wmae']:>10.4f}{_p(PAPER_TABLE2, paper_key):>10}",
        f"{'VAE weighted MAE, grid (T2)*':<34}{r['vae_wmae_grid']:>10.4f}{'':>10}",
        f"{'error-of-best, top ' + str(r['k']) + ' (T3)':<34}{r['eob']:>10.4f}{p_eob:>10}",
        f"{'variance across top ' + str(r['k']) + ' (T3)':<34}{r['var']:>10.2e}{p_var:>10}",
        f"{'MAE of the heaviest mode':<34}{r['top1_mae']:>10.4f}{'':>10}",
        f"{'MAE of a grey output (ab = 0)':<34}{r['grey_mae']:>10.4f}{'':>10}",
        f"{'tint share of the variance':<34}{r['tint_share']:>10.2f}{'':>10}",
        f"{'chroma: heaviest / top ' + str(r['k']) + ' / truth':<34}"
        f"{r['chroma_top1']:>10.1f}  / {r['chroma_topk']:.1f} / {r['chroma_true']:.1f}",
        "  (chroma: mean sqrt(a^2+b^2) in Lab units, ours; well below the truth's reads as greyish)",
    ]
    if "probe_mae" in r:  # --probe
        lines += [
            f"{'feature read-out MAE (val/train)':<34}{r['probe_mae']:>10.4f}  / {r['probe_train_mae']:.4f}",
            f"{'PCA-64 reconstruction MAE':<34}{r['pca_mae']:>10.4f}",
        ]
    if "against" in r:  # --against
        other = r["against"]
        lines.append(f"against {other['model']}, photo by photo ({other['n_paired']} photos; ours - theirs):")
        for key, label in PAIRED_METRICS.items():
            d = other[key]
            lines.append(f"  {label:<32}{d['diff']:>+10.5f} +- {d['se']:.5f}  (theirs {d['theirs']:.4f})")
        lines.append("  (+- one standard error of the mean difference; two or more: a real difference)")
    lines += [
        "  (tint share: the part of the variance across modes that one ab shift per mode explains;",
        "   near 1 the modes are the same picture under colour filters)",
        "* weights normalised to mean 1 over the training data; the paper's are unnormalised 1/p, so only",
        "  the ratio between decoders compares across the two columns.",
    ]
    return "\n".join(lines)


def _p(table: dict, key: str | None) -> str:
    return f"{table[key]}" if key in table else "-"
