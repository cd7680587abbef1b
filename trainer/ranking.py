"""`divcolor train --ranking decoded`: the MDN's weights refitted so that its heaviest
component is the one whose colours come nearest the photo's, as colourful as a photograph.

The paper trains the weights pi towards the component nearest the VAE's embedding z; the
app shows the components ranked by pi. Nearest in the latent space is often not nearest in
colour, and the heaviest mode of such a model can be further from the truth than a grey
output. This step keeps the MDN's means (and so every colorization it offers) and refits
only pi's read-out, the first K rows of its last linear layer, as a softmax classifier of
the FC layer's output: its target, for each training photo, is the component whose decoded
field has the lowest L1 error plus a chroma weight times its chroma's distance from the
truth's. The chroma term matters: on L1 alone the greyest component wins most photos, and
the heaviest mode turns dull; too much of it, and the heaviest mode strays from the truth.

So the chroma weight and the weight decay are chosen together on a holdout of the training
split (pick_ranking): the heaviest mode nearest the truth among the fits whose heaviest mode
is at least the chroma floor (`--chroma-floor`, default CHROMA_FLOOR) as colourful as the
truth, the paper's weights included as one more candidate (kept when they win).

Its record in the model (`ranking_fit`) also keeps the top-5 error-of-best on the holdout
before and after: the refit orders the components for the heaviest mode alone, and on some
models that costs the rest of the top 5 (docs/method.md, section 9).

It is convex: one pass over the training photos (decoding K fields each, most of the time),
then one L-BFGS fit per chroma weight and weight decay on the other nine tenths, and the
chosen one again on all of them; about 5 to 11 minutes for 15,568 photos on a 2-core CPU.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from divcolor_gui.core import lab
from divcolor_gui.core.vocabulary import CHROMA_FLOOR, SCORED_MODES

from .loop import Progress, StageData

STAGE = "ranking"  # its name in Progress records and the model's history
CHROMA_WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.7, 1.0)  # per unit of chroma / 128 (ab/128, as the L1 error)
WEIGHT_DECAYS = (0.01, 0.03, 0.1)  # on the read-out's weights
HOLDOUT_EVERY = 10  # every 10th training photo chooses the chroma weight and the weight decay


def ranking_targets(
    err: torch.Tensor, chroma: torch.Tensor, chroma_true: torch.Tensor, chroma_weight: float
) -> torch.Tensor:
    """Per photo and component (n, K), the criterion the heaviest component should minimise:
    the field's L1 error plus chroma_weight x |its chroma - the truth's| (all ab/128)."""
    return err + chroma_weight * (chroma - chroma_true[:, None]).abs()


def heaviest_scores(
    W: torch.Tensor, b: torch.Tensor, H: torch.Tensor, err: torch.Tensor, chroma: torch.Tensor,
    chroma_true: torch.Tensor,
) -> tuple[float, float]:  # fmt: skip
    """The heaviest component's mean L1 error and its mean chroma as a share of the truth's,
    for the read-out (W, b) on the photos' FC outputs H."""
    top = (H @ W.T + b).argmax(1)
    i = torch.arange(len(top))
    return err[i, top].mean().item(), (chroma[i, top].mean() / chroma_true.mean().clamp_min(1e-9)).item()


def pick_ranking(trials: dict, floor: float = CHROMA_FLOOR) -> object:
    """The key of trials {key: (heaviest error, heaviest chroma share)} to keep: the lowest
    error among those at least `floor` as colourful as the truth, else the most colourful."""
    colourful = {k: v for k, v in trials.items() if v[1] >= floor}
    if colourful:
        return min(colourful, key=lambda k: colourful[k][0])
    return max(trials, key=lambda k: trials[k][1])


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
    """Generator of Progress; returns H (n, D), and each component's L1 error and chroma
    (n, K) and the truth's chroma (n,) for the photos idx (ab/128 units)."""
    features, vae, mdn = nets["features"], nets["vae"], nets["mdn"]
    K = mdn.cfg.n_components
    hs, errs, chromas, truths, done = [], [], [], [], 0
    for x in sd.data.batches(idx, sd.batch_size, shuffle=False):
        with torch.no_grad():
            grey, ab = sd.to_net(x)
            h = mdn.hidden(features.features(grey))
            _, means = mdn.read_out(h)
            B = len(grey)
            g64 = lab.grey_at_field_size(grey).repeat_interleave(K, 0) if vae.needs_grey else None
            dec = vae.decode(means.reshape(B * K, -1), g64).float().view(B, K, 2, *ab.shape[-2:])
            dec = lab.fit_modes_to_grey(dec, grey)  # as shown
            ab = ab.float()
            errs.append((dec - ab[:, None]).abs().mean((2, 3, 4)).cpu())
            chromas.append(dec.pow(2).sum(2).sqrt().mean((2, 3)).cpu())
            truths.append(ab.pow(2).sum(1).sqrt().mean((1, 2)).cpu())
        hs.append(h.float().cpu())
        done += 1
        elapsed = time.monotonic() - t0
        yield Progress(
            STAGE, 1, 1, done, total, {}, elapsed_s=elapsed, eta_s=elapsed / done * (total - done),
            images_per_s=done * sd.batch_size / max(elapsed, 1e-9),
        )  # fmt: skip
    return torch.cat(hs), torch.cat(errs), torch.cat(chromas), torch.cat(truths)


def top_error_of_best(W: torch.Tensor, b: torch.Tensor, H: torch.Tensor, err: torch.Tensor) -> float:
    """Table 3's error-of-best: the mean over photos of the lowest L1 error among the
    SCORED_MODES heaviest components, for the read-out (W, b) on the FC outputs H. The
    ranking orders those by its heaviest mode alone, so this shows what that costs."""
    top = (H @ W.T + b).topk(min(SCORED_MODES, W.shape[0]), dim=1).indices  # all, for K < 5
    return torch.gather(err, 1, top).min(1).values.mean().item()


def refit_ranking(nets: dict, sd: StageData, floor: float = CHROMA_FLOOR):
    """Generator of Progress (one "epoch": the pass over the training photos); refits the
    MDN's pi read-out in place, unless the paper's weights do better on the holdout, and
    returns what it did (the runner keeps it in the model's meta as "ranking_fit")."""
    mdn = nets["mdn"]
    for n in nets.values():
        n.eval()
    idx = sd.train_idx
    total = -(-len(idx) // sd.batch_size)
    t0 = time.monotonic()
    H, err, chroma, truth = yield from _scores(nets, sd, idx, t0, total)
    # Copies, not views: set_weights_readout writes into the layer they come from.
    W0, b0 = (t.detach().float().cpu().clone() for t in mdn.weights_readout())

    hold = torch.from_numpy(np.arange(len(idx)) % HOLDOUT_EVERY == 0)
    fit = ~hold

    def on_holdout(W, b):
        return heaviest_scores(W, b, H[hold], err[hold], chroma[hold], truth[hold])

    readouts = {None: (W0, b0)}  # None: the paper's weights, kept
    for cw in CHROMA_WEIGHTS:
        best = ranking_targets(err, chroma, truth, cw).argmin(1)
        for wd in WEIGHT_DECAYS:
            readouts[(cw, wd)] = fit_readout(H[fit], best[fit], W0, b0, wd)
    trials = {key: on_holdout(*wb) for key, wb in readouts.items()}
    choice = pick_ranking(trials, floor)

    def holdout(key):
        mae, share = trials[key]
        return {
            "mae": mae,
            "chroma_share": share,
            "eob": top_error_of_best(*readouts[key], H[hold], err[hold]),
        }

    summary = {
        "chroma_floor": floor,
        "refitted": choice is not None,
        "holdout_before": holdout(None),
        "holdout_after": holdout(choice),
    }
    if choice is not None:
        cw, wd = choice
        best = ranking_targets(err, chroma, truth, cw).argmin(1)
        mdn.set_weights_readout(*fit_readout(H, best, W0, b0, wd))
        summary.update(chroma_weight=cw, weight_decay=wd)
    elapsed = time.monotonic() - t0
    yield Progress(
        STAGE, 1, 1, total, total, {"loss": summary["holdout_after"]["mae"]}, kind="epoch",
        val={**summary["holdout_after"], "refitted": float(choice is not None)},
        elapsed_s=elapsed, eta_s=0.0, images_per_s=len(idx) / max(elapsed, 1e-9),
    )  # fmt: skip
    return summary
