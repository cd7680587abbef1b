"""The model card: a short Markdown file beside a trained model saying what it was
trained on, how, and how far it got, so a model file found months later explains
itself. Qt-free; everything comes from the model file's own meta."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import read_model_dict
from .output_paths import atomic_path
from .resources import card_path
from .vocabulary import (
    FEATURE_LOSS_TEXT,
    MDN_LOSS_TEXT,
    RANKING_TEXT,
    STAGE_ORDER,
    STAGE_TITLES,
    format_duration,
    stage_title,
)


def _features_row(reused: dict | None, end_to_end: bool, preset: str | None) -> str:
    """Where the feature network came from, whether the MDN's loss trained it on, and its
    preset where it is not the model's (`preset`, else None)."""
    own = f" (the `{preset}` preset)" if preset else ""
    if reused and not end_to_end:
        return f"reused, frozen, from `{Path(reused['model']).name}`{own}"
    where = f"reused from `{Path(reused['model']).name}`" if reused else "trained with this model"
    return where + own + (", then trained on through the MDN's loss (end to end)" if end_to_end else "")


def _reused_row(reused: dict, where: str = "reused, frozen, from") -> str:
    """A VAE reused (--vae), or an MDN started from another model's (--mdn-from): where
    from, and what it had learned there."""
    where = f"{where} `{Path(reused.get('model', '?')).name}`"
    if reused.get("epochs"):
        n = reused["epochs"]
        where += f" ({n} epoch{'' if n == 1 else 's'} on `{Path(reused.get('trained_on', '?')).name}`)"
    return where


def _fmt_losses(d: dict | None) -> str:
    if not d:
        return "-"
    return ", ".join(f"{k} {v:.4g}" for k, v in d.items())


def _mdn_loss_row(meta: dict) -> str:
    loss = meta.get("mdn_loss", "latent")
    text = MDN_LOSS_TEXT.get(loss, str(loss))
    if loss == "shared-cast" and meta.get("cast_weight") is not None:
        text += f"; cast weight {meta['cast_weight']:g}"
    return text


def _ranking_row(meta: dict) -> str:
    text = RANKING_TEXT.get(meta.get("ranking", "latent"), str(meta.get("ranking")))
    fit = meta.get("ranking_fit") if meta.get("ranking") == "decoded" else None
    if not isinstance(fit, dict) or "refitted" not in fit:
        return text
    if not fit["refitted"]:
        return "decoded, tried: the paper's weights ranked best on the holdout and were kept"
    text = f"{text}; chroma weight {fit['chroma_weight']:g}, weight decay {fit['weight_decay']:g}"
    text += f", chroma floor {fit['chroma_floor']:g}" if "chroma_floor" in fit else ""
    before, after = fit.get("holdout_before", {}), fit.get("holdout_after", {})
    if "eob" in before and "eob" in after:  # models ranked before it was kept have none
        text += f"; error-of-best on its holdout {before['eob']:.4f} before, {after['eob']:.4f} after"
    return text


LINEAR_PATH_TEXT = (
    "with a linear path beside its convolutions, started as the training photos' principal components"
)


def _fmt_lr(lr) -> str:
    if isinstance(lr, dict):
        return ", ".join(f"{stage_title(s)} {v:g}" for s, v in lr.items())
    return f"{lr:g}"


def model_card_text(meta: dict, name: str, requested: dict[str, int] | None = None) -> str:
    """Markdown for a model's meta; `requested` (stage -> epochs asked for) lets the
    card say whether the run finished or stopped early."""
    progress: dict = meta.get("progress") or {}
    requested = requested or {}
    stages = [s for s in STAGE_ORDER if s in progress or s in requested]
    done = all(progress.get(s, 0) >= n for s, n in requested.items())
    split = meta.get("split") or {}
    skipped: dict = meta.get("skipped") or {}
    n_skip = sum(skipped.values())
    why = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
    used = split.get("n_train", 0) + split.get("n_val", 0)
    reused = meta.get("features_from")
    wall: dict = meta.get("wall_s") or {}
    lw: dict = meta.get("loss_weights") or {}

    epochs = ", ".join(
        f"{STAGE_TITLES[s]} {progress.get(s, 0)}" + (f"/{requested[s]}" if s in requested else "")
        for s in stages
    )
    rows = [
        # The folder's name, not its path: a card describes the model, not the machine it was made on.
        ("Photos", f"a folder `{Path(meta.get('trained_on', '?')).name}` (searched recursively)"),
        (
            "Colour photos used",
            f"{used} ({split.get('n_train', 0)} training, {split.get('n_val', 0)} validation)",
        ),
        ("Skipped", f"{n_skip} ({why})" if n_skip else "none"),
        ("Size preset", str(meta.get("preset", "?"))),
        (
            STAGE_TITLES["features"],
            _features_row(
                reused,
                bool(meta.get("features_end_to_end", meta.get("end_to_end"))),
                meta.get("features_preset") if meta.get("features_preset") != meta.get("preset") else None,
            ),
        ),
        *(
            [(STAGE_TITLES["vae"], _reused_row(meta["vae_from"]))]
            if isinstance(meta.get("vae_from"), dict)
            else [(STAGE_TITLES["vae"], LINEAR_PATH_TEXT)]
            if meta.get("vae_linear_path")
            else []
        ),
        *(
            [(STAGE_TITLES["mdn"], _reused_row(meta["mdn_from"], "started from the MDN of"))]
            if isinstance(meta.get("mdn_from"), dict)
            else []
        ),
        (
            "Feature loss",
            FEATURE_LOSS_TEXT.get(meta.get("features_loss", "bins"), str(meta.get("features_loss")))
            + (
                f"; photos shifted at random by up to {meta['shift']} field pixels"
                if meta.get("shift")
                else ""
            ),
        ),
        ("Epochs", epochs or "none finished"),
        ("Status", "complete" if done else "stopped early: press Resume in the Trainer tab to continue"),
        ("Batch size", str(meta.get("batch_size", "?"))),
        ("Loss weights", ", ".join(f"{k} {v:g}" for k, v in lw.items()) or "?"),
        ("L_hist weighting", str(meta.get("weighting", "?"))),
        ("MDN loss", _mdn_loss_row(meta)),
        ("Ranking", _ranking_row(meta)),
        ("Learning rate (last run)", _fmt_lr(meta["lr"]) if "lr" in meta else "?"),
        (
            "Device",
            f"{meta.get('device', '?')}"
            + (f" on {meta['host']}" if meta.get("host") else "")
            + f", torch {meta.get('torch', '?')}",
        ),
        (
            "Wall time",
            f"{format_duration(sum(wall.values()))} ("
            + ", ".join(f"{stage_title(s)} {format_duration(t)}" for s, t in wall.items())
            + ")"
            if wall
            else "-",
        ),
        ("Created", str(meta.get("created", "?"))),
    ]
    lines = [f"# {name}", "", "A divcolor colorization model (Deshpande et al., CVPR 2017).", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    history: dict = meta.get("history") or {}
    finals = [(s, history[s][-1]) for s in STAGE_ORDER if history.get(s)]
    if finals:
        lines += ["", "## Final losses", "", "| Stage | Epoch | Training | Validation |", "|---|---|---|---|"]
        for s, h in finals:
            lines.append(
                f"| {STAGE_TITLES[s]} | {h.get('epoch', '?')} | {_fmt_losses(h.get('train'))} | {_fmt_losses(h.get('val'))} |"
            )
    return "\n".join(lines) + "\n"


def write_model_card(model_path: Path, requested: dict[str, int] | None = None) -> Path:
    """Write `<model>.md` beside the model from the file's meta; returns its path."""
    model_path = Path(model_path)
    meta = read_model_dict(model_path)["meta"] or {}
    card = card_path(model_path)
    with atomic_path(card) as tmp:  # never a half-written card beside the model
        tmp.write_text(model_card_text(meta, model_path.stem, requested), encoding="utf-8")
    return card
