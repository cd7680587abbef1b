"""`divcolor eval --probe`: how much of a photo's colour its grey features carry.

A ridge regression from the feature network's output G (flattened) to the 64 leading
PCA coefficients of the 64x64 ab field, fitted on the training split and scored on the
validation split by the MAE of the decoded field. It needs no VAE and no MDN, so a
candidate feature network (a model file from `divcolor train --stages features`) is judged
in minutes on a CPU, before an MDN is trained on it; beside it stand a grey output's MAE
(the floor the read-out must beat) and the PCA's own reconstruction (the ceiling a 64-d
latent allows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .data import VAL_FRACTION, scan_folder
from .loop import StageData

N_COMPONENTS = 64
RIDGE_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0)  # lambda / n on standardised features
HOLDOUT_EVERY = 10  # every 10th training photo chooses lambda


def _features_and_fields(features: nn.Module, sd: StageData, idx: np.ndarray):
    """G flattened (n, D) and the true fields flattened (n, 2*64*64), float32 on the CPU."""
    feats, fields = [], []
    with torch.inference_mode():
        for x in sd.data.batches(idx, sd.batch_size, shuffle=False):
            grey, ab = sd.to_net(x)
            feats.append(features.features(grey).float().flatten(1).cpu())
            fields.append(ab.float().flatten(1).cpu())
    return torch.cat(feats), torch.cat(fields)


def _ridge(xtx: torch.Tensor, xty: torch.Tensor, lam: float) -> torch.Tensor:
    eye = torch.eye(xtx.shape[0], dtype=xtx.dtype)
    return torch.linalg.solve(xtx + lam * eye, xty)


def feature_probe(
    features: nn.Module, data_dir: str | Path, val_fraction: float = VAL_FRACTION, max_images=None,
    device: torch.device | str = "cpu", name: str = "model",
):  # fmt: skip
    """Generator (yields (done, total) steps); returns ridge_readout's figures for the
    feature network `features` (a model's, in eval mode, on `device`) on the validation
    split, with the model's (`name`) and the data's names."""
    grey_size = features.cfg.input_size
    data = yield from scan_folder(data_dir, size=max(64, grey_size), max_images=max_images)
    train_idx, val_idx = data.split(val_fraction)
    sd = StageData(data, train_idx, val_idx, 256, torch.device(device), grey_size)
    Xtr, Ytr = _features_and_fields(features, sd, train_idx)
    yield (1, 3)
    Xva, Yva = _features_and_fields(features, sd, val_idx)
    yield (2, 3)
    result = ridge_readout(Xtr, Ytr, Xva, Yva)
    result.update(model=name, data=str(Path(data_dir).resolve()))
    yield (3, 3)
    return result


def format_probe(r: dict, paper_key: str | None = None) -> str:
    """The read-out alone (`divcolor eval --probe` on a model file with only a feature network)."""
    return "\n".join(
        [
            f"{r['model']} on {r['data']} (feature read-out: {r['n_train']} training, "
            f"{r['n_val']} validation photos, ab/128 at 64x64)",
            f"{'feature read-out MAE (val/train)':<34}{r['probe_mae']:>10.4f}  / {r['probe_train_mae']:.4f}",
            f"{'MAE of a grey output (ab = 0)':<34}{r['grey_mae']:>10.4f}",
            f"{'PCA-64 reconstruction MAE':<34}{r['pca_mae']:>10.4f}",
            "  (the read-out must come well under a grey output; the PCA is what a 64-d latent allows)",
        ]
    )


def ridge_readout(Xtr: torch.Tensor, Ytr: torch.Tensor, Xva: torch.Tensor, Yva: torch.Tensor) -> dict:
    """Features X (n, D) -> fields Y (n, 2*64*64): the ridge read-out to Y's leading PCA
    coefficients, lambda chosen on every HOLDOUT_EVERY-th training row, refitted on all.
    Returns {"probe_mae", "probe_train_mae", "pca_mae", "grey_mae", "alpha", "n_train",
    "n_val", "feature_dim", "n_components"}."""
    n_comp = min(N_COMPONENTS, len(Xtr) - 1, Ytr.shape[1])
    y_mean = Ytr.mean(0)
    _, _, V = torch.svd_lowrank(Ytr - y_mean, q=min(n_comp + 16, *Ytr.shape), niter=4)
    basis = V[:, :n_comp].T.contiguous()  # (n_comp, 8192) orthonormal rows

    def coefs(Y):
        return (Y - y_mean) @ basis.T

    def decode(c):
        return c @ basis + y_mean

    x_mean, x_std = Xtr.mean(0), Xtr.std(0).clamp_min(1e-6)
    Ztr, Zva = (Xtr - x_mean) / x_std, (Xva - x_mean) / x_std
    Ctr = coefs(Ytr)
    hold = torch.zeros(len(Ztr), dtype=torch.bool)
    hold[::HOLDOUT_EVERY] = True
    fit = ~hold
    # Gram matrices in float32 (the costly products), solved in float64.
    xtx_fit, xty_fit = (Ztr[fit].T @ Ztr[fit]).double(), (Ztr[fit].T @ Ctr[fit]).double()
    xtx_hold, xty_hold = (Ztr[hold].T @ Ztr[hold]).double(), (Ztr[hold].T @ Ctr[hold]).double()
    best = None
    for a in RIDGE_ALPHAS:
        W = _ridge(xtx_fit, xty_fit, a * int(fit.sum())).float()
        err = (decode(Ztr[hold] @ W) - Ytr[hold]).abs().mean().item()
        if best is None or err < best[1]:
            best = (a, err)
    alpha = best[0]
    W = _ridge(xtx_fit + xtx_hold, xty_fit + xty_hold, alpha * len(Ztr)).float()

    def mae(pred, true):
        return (pred - true).abs().mean().item()

    return {
        "probe_mae": mae(decode(Zva @ W), Yva),
        "probe_train_mae": mae(decode(Ztr @ W), Ytr),
        "pca_mae": mae(decode(coefs(Yva)), Yva),
        "grey_mae": Yva.abs().mean().item(),
        "alpha": alpha,
        "n_train": len(Xtr),
        "n_val": len(Xva),
        "feature_dim": Xtr.shape[1],
        "n_components": n_comp,
    }
