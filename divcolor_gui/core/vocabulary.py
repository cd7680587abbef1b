"""The words divcolor uses in more than one place, defined once.

Stage names and their titles, the size presets, the methods' names, the MDN losses, the
upsampling modes, and how a duration is written. The command line, the trainer, the model
cards and the app import them from here (it imports nothing, so `divcolor --help` stays
instant), and a new stage, preset or method is named in one line. What each name means in
code lives with that code: the network presets in each network's `*_PRESETS`, the methods
in `trainer.methods.METHODS`, the upsampling in `lab.upsample_ab`.
"""

from __future__ import annotations

# The method's three networks, in the order they are trained.
STAGE_ORDER = ("features", "vae", "mdn")
STAGE_TITLES = {"features": "Feature network", "vae": "VAE", "mdn": "MDN"}
# Epochs per stage of a run given none; a resumed run given none goes on to the epochs its
# file's last run was started with ("planned_epochs", trainer.policy.settings_for_resume).
DEFAULT_EPOCHS = {"features": 8, "vae": 10, "mdn": 10}

# Network sizes: `tiny` for tests, `compact` for a CPU (the bundled models), `paper` for a GPU.
PRESETS = ("tiny", "compact", "paper")
DEFAULT_PRESET = "compact"

# Colorization methods by name (trainer.methods), with their label in comparisons.
METHOD_LABELS = {
    "ours": "Ours",
    "ours-skip": "Ours+skip",
    "cvae": "CVAE",
    "cgan": "cGAN",
    "per-pixel": "Per-pixel",
}
TRAINABLE_METHODS = ("ours", "ours-skip", "cvae", "cgan")  # per-pixel samples an "ours" model

# The feature network alone may take another size (nets.colornet.COLORNET_PRESETS): "residual"
# is a ResNet-style trunk for features trained on the colour field, "lite128" EfficientNet-Lite0's
# first stages started from ImageNet weights.
FEATURE_PRESETS = (*PRESETS, "residual", "residual128", "lite128")

# What `divcolor gui --exit-when-shown` prints once its window is painted (bench's startup_ms).
SHOWN_LINE = "divcolor: window shown"

# Where the networks run (device.resolve_device); "auto" takes CUDA only where a kernel runs.
DEVICE_CHOICES = ("auto", "cpu", "cuda")

# Live decoding (a dragged slider): this many workers on successive frames side by side, each
# on its share of torch's threads (app/colorize/decode_queue.py; `divcolor bench`'s live_per_s).
LIVE_WORKERS = 2

# How the 64x64 colour field is brought to the photo's size: along its edges, or plainly.
UPSAMPLING_MODES = ("guided", "bilinear")

# The feature network's loss: "bins" is the paper's (Zhang et al.'s 313-bin classification);
# "field" trains it to predict the colour field itself through a linear read-out.
FEATURE_LOSSES = ("bins", "field", "hypotheses", "shared-cast")
FEATURE_LOSS_TEXT = {
    "bins": "bins (the paper's: per-pixel classification into the 313 ab bins)",
    "field": "field (the colour field predicted from G through a linear read-out, L1)",
    "hypotheses": "hypotheses (several colour fields read out linearly from G, each photo's L1 "
    "to the nearest: features for the modes of an ambiguous photo)",
    "shared-cast": "shared-cast (as hypotheses, the nearest chosen with each field's overall cast set "
    "aside, and every field's cast pulled towards the photo's: modes that differ in what is coloured)",
}
# The random shifts of the photos the feature network learns from (--shift, in its own stage
# and an end-to-end MDN stage; trainer.stages.random_shifts), in field pixels: at most an
# eighth of the 64-pixel field each way, so that a shifted photo keeps most of its frame.
MAX_SHIFT = 8

# The MDN's loss: "latent" is the paper's (the component nearest the VAE's z); "decoded" adds
# best-of-K on the decoded colours (losses.decoded_colour_loss).
# "winner" is "decoded" with the best chosen by a linear stand-in for the decoder (one decode
# per photo instead of nine: ~3x faster). "shared-cast" is "winner" with the best chosen with
# each component's overall cast set aside, and every cast pulled towards the photo's
# (losses.shared_cast_loss).
MDN_LOSSES = ("latent", "decoded", "winner", "shared-cast")
# The shared-cast loss's default weight on each component's overall cast (its field's mean ab)
# off the photo's, against the winner's own error: at 1, casts off by some amount cost the K
# components together, on average, what the same shift of all its pixels would cost the winner.
CAST_WEIGHT = 1.0
# The ranking step's default bar (trainer/ranking.py): the heaviest mode's mean chroma, as a
# share of the truth's, that a refit must reach on its holdout to count as colourful.
CHROMA_FLOOR = 0.9

# Table 3's error-of-best and variance score the top 5 modes by weight (the paper's count), in
# `divcolor eval`, the MDN stage's validation figure and the ranking step's holdout.
SCORED_MODES = 5

# How the MDN's weights pi rank its components: "latent" is the paper's (trained towards the
# component nearest the VAE's embedding); "decoded" refits them after training towards the
# component whose decoded colours come nearest the photo's (trainer/ranking.py).
RANKINGS = ("latent", "decoded")
RANKING_TEXT = {
    "latent": "latent (the paper's: the weights learn which component is nearest the embedding)",
    "decoded": "decoded (the weights refitted to the component whose colours and colourfulness come nearest)",
}

# Training precision: "bf16" runs each step under bfloat16 autocast (for GPUs: ~8x the
# images/s of fp32 for the paper-size VAE on an H200; on a CPU without bf16 units, slower).
PRECISIONS = ("fp32", "bf16")
MDN_LOSS_TEXT = {
    "latent": "latent (the paper's: the component nearest the VAE's embedding)",
    "decoded": "decoded (the paper's, plus the best of the 8 decoded colorizations pulled towards the truth)",
    "winner": "winner (as decoded, the best chosen by a linear stand-in for the decoder)",
    "shared-cast": "shared-cast (as winner, the best chosen with each colorization's overall cast set aside,"
    " and every cast pulled towards the photo's)",
}


def stage_title(stage: str) -> str:
    """ "Feature network" for "features"; a baseline's role (cvae, cgan) as it is."""
    return STAGE_TITLES.get(stage, stage)


def format_clock(seconds: float | None) -> str:
    """A progress bar's time: "m:ss" or "h:mm:ss"; "--:--" when unknown."""
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def format_duration(seconds: float) -> str:
    """A report's time: "4.2 s", "42 s", "3 min 07 s", "2 h 05 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


def fit_longer_side(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) scaled so the longer side is at most max_side (never enlarged), each >= 1."""
    s = min(1.0, max_side / max(height, width))
    if s >= 1.0:
        return height, width
    return max(1, round(height * s)), max(1, round(width * s))
