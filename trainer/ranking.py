"""`divcolor train --ranking decoded`: the MDN's weights refitted so that its heaviest
component is the one whose colours come nearest the photo's.

The paper trains the weights pi towards the component nearest the VAE's embedding z; the
app shows the components ranked by pi. Nearest in the latent space is often not nearest in
colour, and the heaviest mode of such a model can be further from the truth than a grey
output. This step keeps the MDN's means (and so every colorization it offers) and refits
only pi's read-out, the first K rows of its last linear layer, as a softmax classifier of
the FC layer's output: its target, for each training photo, is the component whose decoded
field has the lowest L1 error plus CHROMA_WEIGHT times its chroma's distance from the
truth's. The chroma term matters: on L1 alone the greyest component wins most photos, and
the heaviest mode turns dull. The weight decay is chosen on a holdout of the training split.

It is convex: one pass over the training photos (decoding K fields each, most of the time),
then a few L-BFGS fits; 11 minutes for 15,568 photos on a 2-core CPU with the `residual`
feature network.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from divcolor_gui.core import lab

from .loop import Progress, StageData

STAGE = "ranking"  # its name in Progress records and the model's history
CHROMA_WEIGHT = 0.7  # per unit of chroma / 128 (ab/128 units, as the L1 error)
WEIGHT_DECAYS = (0.01, 0.03, 0.1)  # on the read-out's weights; chosen on the holdout
HOLDOUT_EVERY = 10  # every 10th training photo chooses the weight decay


def ranking_targets(err: torch.Tensor, chroma: torch.Tensor, chroma_true: torch.Tensor) -> torch.Tensor:
    """Per photo and component (n, K), the criterion the heaviest component should minimise:
    the field's L1 error plus CHROMA_WEIGHT x |its chroma - the truth's| (all ab/128)."""
    return err + CHROMA_WEIGHT * (chroma - chroma_true[:, None]).abs()


def fit_readout(
    H: torch.Tensor, best: torch.Tensor, W0: torch.Tensor, b0: torch.Tensor, weight_decay: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax read-out (W (K, D), b (K,)) from H (n, D) to the index of the best component
    (n,), by L-BFGS from (W0, b0), with weight_decay on W."""
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([W, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(H @ W.T + b, best) + weight_decay * (W**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return W.detach(), b.detach()


def _scores(nets: dict, sd: StageData, idx: np.ndarray, t0: float, total: int):
    """Generator of Progress; returns (H (n, D), criterion (n, K)) for the photos idx."""
    features, vae, mdn = nets["features"], nets["vae"], nets["mdn"]
    K = mdn.cfg.n_components
    hs, crits, done = [], [], 0
    for x in sd.data.batches(idx, sd.batch_size, shuffle=False):
        with torch.no_grad():
            grey, ab = sd.to_net(x)
            h = mdn.hidden(features.features(grey))
            _, means = mdn.read_out(h)
            B = len(grey)
            g64 = lab.grey_at_field_size(grey).repeat_interleave(K, 0) if vae.needs_grey else None
            dec = vae.decode(means.reshape(B * K, -1), g64).float().view(B, K, 2, *ab.shape[-2:])
            ab = ab.float()
            err = (dec - ab[:, None]).abs().mean((2, 3, 4))
            chroma = dec.pow(2).sum(2).sqrt().mean((2, 3))
            chroma_true = ab.pow(2).sum(1).sqrt().mean((1, 2))
        hs.append(h.float().cpu())
        crits.append(ranking_targets(err, chroma, chroma_true).cpu())
        done += 1
        elapsed = time.monotonic() - t0
        yield Progress(
            STAGE, 1, 1, done, total, {}, elapsed_s=elapsed, eta_s=elapsed / done * (total - done),
            images_per_s=done * sd.batch_size / max(elapsed, 1e-9),
        )  # fmt: skip
    return torch.cat(hs), torch.cat(crits)


def refit_ranking(nets: dict, sd: StageData):
    """Generator of Progress (one "epoch": the pass over the training photos); refits the
    MDN's pi read-out in place and returns what it did (the runner keeps it in the model's
    meta as "ranking_fit")."""
    mdn = nets["mdn"]
    for n in nets.values():
        n.eval()
    idx = sd.train_idx
    total = -(-len(idx) // sd.batch_size)
    t0 = time.monotonic()
    H, crit = yield from _scores(nets, sd, idx, t0, total)
    best = crit.argmin(1)
    # Copies, not views: set_weights_readout writes into the layer they come from.
    W0, b0 = (t.detach().float().cpu().clone() for t in mdn.weights_readout())

    def heaviest_crit(W, b, rows):
        top = (H[rows] @ W.T + b).argmax(1)
        return crit[rows][torch.arange(len(top)), top].mean().item()

    hold = np.arange(len(idx)) % HOLDOUT_EVERY == 0
    fit_rows, hold_rows = torch.from_numpy(~hold), torch.from_numpy(hold)
    trials = {}
    for wd in WEIGHT_DECAYS:
        W, b = fit_readout(H[fit_rows], best[fit_rows], W0, b0, wd)
        trials[wd] = heaviest_crit(W, b, hold_rows)
    wd = min(trials, key=trials.get)
    W, b = fit_readout(H, best, W0, b0, wd)
    mdn.set_weights_readout(W, b)
    summary = {
        "chroma_weight": CHROMA_WEIGHT,
        "weight_decay": wd,
        "holdout_before": heaviest_crit(W0, b0, hold_rows),
        "holdout_after": trials[wd],
    }
    elapsed = time.monotonic() - t0
    yield Progress(
        STAGE, 1, 1, total, total, {"loss": summary["holdout_after"]}, kind="epoch", val=summary,
        elapsed_s=elapsed, eta_s=0.0,
        images_per_s=len(idx) / max(elapsed, 1e-9),
    )  # fmt: skip
    return summary
