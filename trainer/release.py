"""Make a bundled copy of a trained model: half-precision weights (the networks run in
float32 after loading), a name, the size checked against the bundle's budget, and the
model card beside it.

    python -m trainer.release runs/general.pt resources/models/general.pt --name general \\
        --eval runs/eval/general.json --bench runs/bench/general.json --notes runs/general-notes.md

The card is the training metadata's table (divcolor_gui.core.model_card), then the
paper's metrics from `divcolor eval --json` next to the paper's numbers, the speed from
`divcolor bench --json`, and free-form notes (how it was made, what it looks like).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from divcolor_gui.core.checkpoint import load_model, save_model
from divcolor_gui.core.model_card import model_card_text
from divcolor_gui.core.resources import card_path

from .paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3

MAX_BYTES = 25 * 1024 * 1024  # the limit per bundled model


def metrics_section(r: dict, paper_key: str | None) -> str:
    p3 = PAPER_TABLE3.get(paper_key or "")
    label = p3["label"] if p3 else "-"
    rows = [
        ("VAE MAE, all pixels (Table 1)", f"{r['vae_mae']:.4f}", PAPER_TABLE1.get(paper_key or "")),
        ("VAE MAE, centre 8×8 grid", f"{r['vae_mae_grid']:.4f}", None),
        (
            "VAE weighted MAE, all pixels (Table 2)*",
            f"{r['vae_wmae']:.4f}",
            PAPER_TABLE2.get(paper_key or ""),
        ),
        ("VAE weighted MAE, centre grid*", f"{r['vae_wmae_grid']:.4f}", None),
        (f"Error-of-best, top {r['k']} (Table 3)", f"{r['eob']:.4f}", p3["eob"] if p3 else None),
        (f"Variance across top {r['k']} (Table 3)", f"{r['var']:.2e}", f"{p3['var']:.1e}" if p3 else None),
        ("MAE of the heaviest mode", f"{r['top1_mae']:.4f}", None),
    ]
    if "chroma_top1" in r:  # eval files from before chroma was measured lack it
        chroma = f"{r['chroma_top1']:.1f} / {r['chroma_topk']:.1f} / {r['chroma_true']:.1f}"
        rows.append((f"Chroma: heaviest mode / top {r['k']} / truth (Lab units)", chroma, None))
    if "tint_share" in r:  # likewise for the grey baseline and the tint share
        rows.append(("MAE of a grey output (ab = 0)", f"{r['grey_mae']:.4f}", None))
        rows.append((f"Tint share of the variance across top {r['k']}", f"{r['tint_share']:.2f}", None))
    if "probe_mae" in r:  # `divcolor eval --probe`
        rows.append(
            ("Feature read-out: ridge from G to 64 PCA coefficients, MAE", f"{r['probe_mae']:.4f}", None)
        )
    lines = [
        "## The paper's metrics",
        "",
        f"On the {r['split']} split ({r['n_images']} photos never seen in training), ab/128 at 64×64, "
        f"definitions in `docs/method.md`; paper column: its {label} row.",
        "",
        f"| metric | this model | paper ({label}) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {ours} | {'' if paper is None else paper} |" for name, ours, paper in rows]
    lines += [
        "",
        "\\* our colourfulness weights are normalised to mean 1 over the training data; the paper's are",
        "unnormalised 1/p, so only ratios between decoders compare across the columns.",
    ]
    return "\n".join(lines)


def bench_section(b: dict) -> str:
    return "\n".join(
        [
            "## Speed on this machine (`divcolor bench`, medians after warm-up)",
            "",
            f"Device: {b.get('device', '?')}, model `{b.get('model', '?')}`.",
            "",
            "| what | ms |",
            "|---|---|",
            f"| decode one latent (`decode_ms`) | {b['decode_ms']} |",
            f"| slider move → 1024-px preview (`preview_ms`) | {b['preview_ms']} |",
            f"| analyze a 12-megapixel photo (`analyze_ms`) | {b['analyze_ms']} |",
            f"| full-resolution result, 12 megapixels (`export_ms`) | {b['export_ms']} |",
            *(
                [
                    f"| re-solve every mode after a colour-hint edit (`hint_ms`) | {b['hint_ms']} |",
                    f"| the hint solver's set-up, once per photo (`hint_setup_ms`) | {b['hint_setup_ms']} |",
                ]
                if "hint_ms" in b
                else []
            ),
            "",
            f"Peak resident memory: {b['rss_mb']} MB." if b.get("rss_mb") is not None else "",
        ]
    )


def card_text(meta: dict, name: str, eval_result: dict | None, bench: dict | None, notes: str) -> str:
    parts = [model_card_text(meta, name).rstrip()]
    if meta.get("description"):
        parts.insert(1, meta["description"])
    if notes.strip():
        parts.append(notes.strip())
    if eval_result:
        paper_key = next((k for k in PAPER_TABLE3 if k in eval_result.get("data", "")), None)
        parts.append(metrics_section(eval_result, paper_key))
    if bench:
        parts.append(bench_section(bench))
    return "\n\n".join(parts) + "\n"


def portable_meta(meta: dict) -> dict:
    """The meta with every path cut to its last part (the photos folder's name, a reused
    model's file name) and the build machine's name dropped: a bundled file says how it
    was made, not where. Files trained before names alone were stored hold full paths."""
    meta = dict(meta)
    meta.pop("host", None)
    if meta.get("trained_on"):
        meta["trained_on"] = Path(str(meta["trained_on"])).name
    for key in ("features_from", "vae_from", "mdn_from"):
        if isinstance(meta.get(key), dict):
            meta[key] = {
                k: Path(str(v)).name if k in ("model", "trained_on") and v else v
                for k, v in meta[key].items()
            }
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.release")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--eval", type=Path, help="`divcolor eval --json` output for the card")
    ap.add_argument("--bench", type=Path, help="`divcolor bench --json` output for the card")
    ap.add_argument("--notes", type=Path, help="Markdown to include: how it was made, what it looks like")
    ap.add_argument("--card-only", action="store_true", help="rewrite the card of an existing dst")
    args = ap.parse_args(argv)
    if not args.card_only:
        bundle = load_model(args.src, "cpu")
        bundle.meta = portable_meta(bundle.meta)
        bundle.meta["name"] = args.name
        if args.description:
            bundle.meta["description"] = args.description
        save_model(bundle, args.dst, half=True)
    size = args.dst.stat().st_size
    print(f"{args.dst}: {size / 2**20:.1f} MiB")
    meta = load_model(args.dst, "cpu").meta
    ev = json.loads(args.eval.read_text()) if args.eval else None
    bench = json.loads(args.bench.read_text()) if args.bench else None
    notes = args.notes.read_text() if args.notes else ""
    card = card_path(args.dst)
    card.write_text(card_text(meta, args.name, ev, bench, notes), encoding="utf-8")
    print(f"{card}: written")
    if size > MAX_BYTES:
        print(f"too large for the bundle (limit {MAX_BYTES / 2**20:.0f} MiB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
