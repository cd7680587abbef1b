"""`divcolor`: the one command. With no arguments it opens the app.

Subcommands: gui, train, colorize, eval, models, bench. Heavy imports (torch, Qt)
happen inside each command, so `divcolor --help` is instant and the Qt-free
commands never touch Qt.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
from pathlib import Path

from divcolor_gui.core.vocabulary import (
    CAST_WEIGHT,
    CHROMA_FLOOR,
    DEFAULT_EPOCHS,
    DEFAULT_PRESET,
    DEVICE_CHOICES,
    FEATURE_LOSSES,
    FEATURE_PRESETS,
    MAX_SHIFT,
    MDN_LOSSES,
    METHOD_LABELS,
    PRECISIONS,
    PRESETS,
    RANKINGS,
    STAGE_ORDER,
    TRAINABLE_METHODS,
    UPSAMPLING_MODES,
)

# --loss: the decoder's terms, the paper's ablation (Table 1): all of them, plain L2, or L_mah.
DECODER_LOSSES = {
    "all": {},
    "l2": {"hist": 0, "mah": 0, "grad": 0, "l2": 1.0},
    "mah": {"hist": 0, "grad": 0, "mah": 1.0},
}


# Option values checked as they are parsed, so a bad one is refused with its allowed range
# before any work starts (argparse prints "argument --batch-size: ..." and exits 2).
def _whole(lo: int, hi: int | None = None):
    allowed = f"a whole number from {lo} to {hi}" if hi is not None else f"a whole number, {lo} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {allowed}")
        return value

    return parse


def _between(lo: float, hi: float, what: str, hi_allowed: bool = False):
    """A float above lo and below hi (or up to it); NaN and inf are refused too."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (lo < value < hi or (hi_allowed and value == hi)):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse


_share = _between(0, 1, "a share between 0 and 1 (e.g. 0.05)")
_rate = _between(0, 1, "a learning rate above 0 and at most 1 (e.g. 1e-3)", hi_allowed=True)


def _per_stage(kind, what: str):
    """ "N" for every stage or "F,V,M" for features, VAE and MDN (--epochs, --lr)."""

    def parse(text: str) -> dict:
        parts = [kind(x.strip()) for x in text.split(",")]
        if len(parts) == 1:
            return dict.fromkeys(STAGE_ORDER, parts[0])
        if len(parts) != len(STAGE_ORDER):
            raise argparse.ArgumentTypeError(f"{text!r}: give one {what} or three (features,VAE,MDN)")
        return dict(zip(STAGE_ORDER, parts))

    return parse


def _add_model_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default=None, help="model name (see `divcolor models`) or a .pt file; default: general"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="divcolor", description="Diverse colorizations of black-and-white photos."
    )
    ap.add_argument("--self-test", nargs="?", const="", metavar="OUT.png",
                    help="headless check of this installation (the packaged app too): colorize a generated "
                    "photo with the default model, write it (default: the log folder), exit 0")  # fmt: skip
    sub = ap.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="open the app (the default)")
    g.add_argument("image", nargs="?", help="a photo to open")
    g.add_argument(
        "--screenshot", metavar="OUT.png", help="save a screenshot once the thumbnails are ready, then exit"
    )
    g.add_argument("--exit-when-shown", action="store_true",
                   help="print a line once the window is painted, then exit (the startup benchmark)")  # fmt: skip
    g.add_argument(
        "--self-test",
        action="store_true",
        help="headless check: load the model, colorize a generated photo, exit 0",
    )
    _add_model_device(g)

    # No defaults here: an option not given keeps TrainConfig's (trainer/config.py).
    t = sub.add_parser(
        "train", help="train a model on a folder of colour photos", argument_default=argparse.SUPPRESS
    )
    t.add_argument("--data", required=True, type=Path, help="folder of colour photos (searched recursively)")
    t.add_argument("--out", required=True, type=Path, help="model file to write (saved after every epoch)")
    t.add_argument("--stages", help=f"comma-separated, of {', '.join(STAGE_ORDER)} (default: all)")
    t.add_argument("--preset", choices=PRESETS, help=f"network sizes (default: {DEFAULT_PRESET})")
    t.add_argument("--features", help="reuse the feature network of this model (a name or a .pt file)")
    t.add_argument("--features-preset", choices=FEATURE_PRESETS,
                   help="a new feature network's size, if not --preset's (residual: a ResNet-style trunk; lite128: EfficientNet-Lite0 from ImageNet weights, needs the imagenet extra)")  # fmt: skip
    t.add_argument(
        "--vae", help="reuse the VAE of this model, frozen, with its colour statistics (a name or a .pt file)"
    )
    t.add_argument("--mdn-from", help="start the MDN from this model's instead of afresh, on a --vae "
                   "fine-tuned from that model's (a name or a .pt file)")  # fmt: skip
    t.add_argument("--epochs", type=_per_stage(_whole(0, 100_000), "number of epochs"),
                   help="N for every stage, or F,V,M per stage (default: "
                   f"{','.join(str(DEFAULT_EPOCHS[s]) for s in STAGE_ORDER)}; with --resume, the epochs "
                   "the model's last run was started with)")  # fmt: skip
    t.add_argument("--batch-size", type=_whole(1, 65_536),
                   help="the global batch, shared by all processes under torchrun (default: 64)")  # fmt: skip
    t.add_argument("--precision", choices=PRECISIONS,
                   help="fp32 (default); bf16: bfloat16 autocast, for GPUs (~8x faster on an H200)")  # fmt: skip
    t.add_argument("--stream", action="store_true",
                   help="decode the photos as they are read instead of caching them first (a folder too "
                   "large for the cache's disk)")  # fmt: skip
    t.add_argument(
        "--lr", type=_per_stage(_rate, "rate"), help="N for every stage, or F,V,M per stage (default: 1e-3)"
    )
    t.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    t.add_argument("--resume", action="store_true", help="continue the model at --out from its last epoch")
    t.add_argument("--weighting", choices=("smoothed", "raw"), help="L_hist bin weights (default: smoothed)")
    t.add_argument(
        "--loss", default="all", choices=tuple(DECODER_LOSSES), help="decoder loss (the paper's ablation)"
    )
    t.add_argument(
        "--features-loss",
        choices=FEATURE_LOSSES,
        help="bins (default): the paper's 313-bin classification; field: predict the colour field "
        "itself through a linear read-out (features trained for the goal); hypotheses: 8 such fields, "
        "each photo learning from the nearest (features for the modes of an ambiguous photo); shared-cast: "
        "as hypotheses, the nearest chosen with each field's cast set aside and every cast pulled towards "
        "the photo's",
    )
    t.add_argument(
        "--shift",
        type=int,
        help="move each photo the feature network learns from (in its own stage, and in the MDN's with "
        f"--end-to-end) by a random offset of up to this many field pixels (0 to {MAX_SHIFT}; default 0), "
        "grey and colour together: features that generalise better on a long schedule. --resume keeps "
        "the model's unless one is given",
    )
    t.add_argument(
        "--mdn-loss",
        choices=MDN_LOSSES,
        help="latent (default): the paper's; decoded: that plus the best of 8 on the decoded colours "
        "(lower error-of-best, ~6x slower); winner: as decoded, the best chosen by a linear stand-in for "
        "the decoder (~2x slower than latent); shared-cast: as winner, the best chosen with each "
        "colorization's overall cast set aside and every cast pulled towards the photo's (modes that differ "
        "in what is coloured, not by a tint). --resume keeps the model's loss unless one is given",
    )
    t.add_argument(
        "--cast-weight",
        type=float,
        help="the shared-cast loss's pull of each colorization's overall cast towards the photo's, against "
        f"the best one's own error (default: {CAST_WEIGHT:g}; lower keeps more of the modes' tints)",
    )
    t.add_argument(
        "--ranking",
        choices=RANKINGS,
        help="latent (default): the MDN's weights as the paper trains them; decoded: then refitted so that "
        "the heaviest component is the one whose colours come nearest (minutes; with --resume on a "
        "finished model, only this step runs)",
    )
    t.add_argument(
        "--chroma-floor",
        type=float,
        help="--ranking decoded: how colourful, as a share of the truth's chroma, the heaviest mode must "
        f"be on the holdout (default: {CHROMA_FLOOR:g}; a new value ranks a finished model again)",
    )
    t.add_argument(
        "--vae-linear-path",
        action="store_true",
        help="a new VAE also maps colour fields to and from its latent linearly, started as the training "
        "photos' principal components (lower reconstruction error; train it at a low rate, e.g. 1e-5)",
    )
    t.add_argument(
        "--end-to-end",
        action=argparse.BooleanOptionalAction,
        help="the MDN stage also trains the feature network, through the MDN's loss (stronger colour cues); "
        "--resume keeps the model's choice unless this or --no-end-to-end is given",
    )
    t.add_argument(
        "--method",
        choices=TRAINABLE_METHODS,
        help="ours (default); ours-skip, whose decoder also sees the grey image; or a paper baseline: "
        "cvae (L2 + KL) or cgan (pix2pix), which train V epochs",
    )
    t.add_argument("--val-fraction", type=_share, help="share of the photos held out (default: 0.05)")
    t.add_argument("--max-images", type=_whole(2), help="use only the first N photos (quick runs)")
    t.add_argument("--name", help="model name shown in the app (default: the file's stem)")
    t.add_argument("--seed", type=_whole(0, 2**32 - 1), help="default: 0")

    c = sub.add_parser("colorize", help="write the top-k colorizations of photos")
    c.add_argument("images", nargs="+", type=Path)
    c.add_argument("-k", type=_whole(1, 8), default=5, help="how many colorizations, heaviest first (1 to 8)")
    c.add_argument("-o", "--outdir", type=Path, default=Path("."))
    c.add_argument("--upsample", default=UPSAMPLING_MODES[0], choices=UPSAMPLING_MODES,
                   help="guided: the colours follow the photo's edges; bilinear: plain upsampling")  # fmt: skip
    c.add_argument("--hints", type=Path, metavar="HINTS.json",
                   help='colour hints: {"hints": [{"x": 120, "y": 40, "color": "#3366cc", "radius": 6}]}, '
                   "x and y in the photo's pixels")  # fmt: skip
    c.add_argument("--hint", action="append", default=[], metavar="X,Y,#RRGGBB",
                   help="one colour hint (repeatable; ',RADIUS' optional); every mode follows the hints")  # fmt: skip
    c.add_argument("--json", action="store_true", help="print one JSON record per image on stdout")
    c.add_argument("--force", action="store_true", help="overwrite existing output files")
    _add_model_device(c)

    e = sub.add_parser("eval", help="the paper's metrics for a model on a folder")
    e.add_argument("--data", required=True, type=Path)
    e.add_argument("--split", default="auto", choices=("auto", "val", "all"),
                   help="auto: the model's validation split if it was trained on this folder, else all")  # fmt: skip
    e.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    e.add_argument(
        "--paper", choices=("faces", "churches", "general"), help="which paper row to print beside ours"
    )
    e.add_argument("--max-images", type=_whole(1))
    e.add_argument("--methods", help="compare methods (paper Tables 1-3): comma-separated from "
                   f"{', '.join(METHOD_LABELS)}; ours and per-pixel use --model")  # fmt: skip
    for name in ("ours-skip", "cvae", "cgan"):
        e.add_argument(f"--model-{name}", type=Path, metavar="PATH", help=f"the {name} model for --methods")
    e.add_argument("--figure", type=Path, metavar="OUT.png", help="with --methods: write a Figure-7-like PNG")
    e.add_argument("--figure-rows", type=_whole(1, 64), default=4, help="images in the --figure")
    e.add_argument(
        "--samples", type=_whole(5, 100_000), default=256, help="samples the cvae/cgan baselines cluster to 5"
    )
    e.add_argument("--hints", metavar="N[,N...]",
                   help="oracle colour hints: N random points given their true colours (e.g. 1,2,5,10), reported "
                   "beside N = 0 on the first --hint-photos validation photos")  # fmt: skip
    e.add_argument(
        "--hint-photos", type=_whole(1), default=100, help="photos for --hints (about 5 s each on 2 cores)"
    )
    e.add_argument("--against", metavar="MODEL",
                   help="also score this model on the same photos, and print the two models' difference photo by "
                   "photo, with its standard error: whether a gain is more than the photos' spread")  # fmt: skip
    e.add_argument("--probe", action="store_true",
                   help="also the feature read-out: a ridge fit from the grey features to the colour field's "
                   "64 PCA coefficients (training split), scored on the validation split (minutes)")  # fmt: skip
    _add_model_device(e)

    m = sub.add_parser("models", help="list the available models")
    m.add_argument("--json", action="store_true")

    b = sub.add_parser("bench", help="measure speed and memory on this machine")
    b.add_argument("--json", type=Path, metavar="OUT")
    _add_model_device(b)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.self_test is not None and not args.command:
        from divcolor_gui.self_test import run_self_test

        return run_self_test(out=args.self_test or None)
    cmd = args.command or "gui"
    if cmd == "gui" and not args.command:
        args = build_parser().parse_args(["gui"])
    from divcolor_gui.core.output_paths import OutputPathError, check_output_file, os_error_line

    try:
        if getattr(args, "json", None) not in (None, True, False):  # eval/bench --json OUT
            check_output_file(args.json)
        if getattr(args, "figure", None):  # eval --figure OUT.png, written after minutes of work
            check_output_file(args.figure)
        return {
            "gui": _cmd_gui, "train": _cmd_train, "colorize": _cmd_colorize,
            "eval": _cmd_eval, "models": _cmd_models, "bench": _cmd_bench,
        }[cmd](args)  # fmt: skip
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except OutputPathError as e:
        return _fail(str(e))
    except OSError as e:  # a disk filling up, a folder removed under us: one line, no traceback
        return _fail(os_error_line(e))


def _fail(msg: str) -> int:
    print(f"divcolor: error: {msg}", file=sys.stderr)
    return 2


def _cmd_gui(args) -> int:
    from divcolor_gui.app.main import run_app

    return run_app(args)


def _cmd_bench(args) -> int:
    from divcolor_gui.bench import run_bench

    return run_bench(args)


def _train_config(args):
    """TrainConfig from the options given; the rest keep TrainConfig's defaults."""
    from divcolor_gui.core.losses import LossWeights
    from divcolor_gui.core.resources import find_model
    from trainer.config import TrainConfig

    given = vars(args)
    # Options whose value goes into TrainConfig's field of the same name as it is.
    same = (
        "preset",
        "batch_size",
        "weighting",
        "features_loss",
        "features_preset",
        "shift",
        "mdn_loss",
        "cast_weight",
        "ranking",
        "chroma_floor",
        "method",
        "val_fraction",
        "max_images",
        "name",
        "seed",
        "precision",
        "stream",
        "vae_linear_path",
    )
    kw = {key: given[key] for key in same if key in given}
    if "stages" in given:
        kw["stages"] = tuple(s.strip() for s in args.stages.split(",") if s.strip())
        if not kw["stages"]:  # else a model file with no networks would be "trained"
            raise ValueError(f"--stages {args.stages!r}: name at least one of {', '.join(STAGE_ORDER)}")
    if "features" in given:
        kw["features_from"] = find_model(args.features)
    if "vae" in given:
        kw["vae_from"] = find_model(args.vae)
    if "mdn_from" in given:
        kw["mdn_from"] = find_model(args.mdn_from)
    for key in ("epochs", "lr"):  # already {stage: value}
        if key in given:
            kw[key] = given[key]
    return TrainConfig(
        data=args.data, out=args.out, device=args.device, resume=given.get("resume", False),
        end_to_end=given.get("end_to_end"), loss_weights=LossWeights(**DECODER_LOSSES[args.loss]), **kw,
    )  # fmt: skip


def _stop_on_sigterm():
    """`kill`, or a job scheduler ending the run, stops training as Ctrl-C does: after a
    step, with the last finished epoch kept, the run's lock released and a line saying so.
    Returns what undoes it (the handler before), for a process that goes on afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only there can it be set
        return lambda: None

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, before)


def _cmd_train(args) -> int:
    import dataclasses

    from divcolor_gui.core.checkpoint import ModelFileError
    from divcolor_gui.core.device import resolve_device
    from trainer import distributed
    from trainer.config import TrainingError
    from trainer.console import ConsoleProgress
    from trainer.policy import plan_run
    from trainer.run import run_training

    ranks = distributed.ranks_from_env()  # one process of one, unless started by torchrun
    fail = _fail if ranks.is_main else lambda msg: _fail(f"rank {ranks.rank}: {msg}")
    restore_sigterm = _stop_on_sigterm()
    try:
        cfg, notes = plan_run(_train_config(args))
        device = distributed.start(ranks, resolve_device(cfg.device))
        cfg = dataclasses.replace(cfg, device=str(device))
        for line in notes if ranks.is_main else ():  # a resumed model keeps its own settings
            print(f"resuming with the model's {line}", file=sys.stderr)
        show = ConsoleProgress() if ranks.is_main else (lambda rec: None)  # rank 0 tells
        gen = run_training(cfg, ranks)
        try:
            while True:
                show(next(gen))
        except StopIteration as stop:
            out = stop.value
    except KeyboardInterrupt:
        if ranks.is_main:
            kept = (
                f"{args.out} holds the last finished epoch (continue with --resume)"
                if Path(args.out).exists()
                else f"no epoch had finished, so nothing was saved to {args.out}"
            )
            print(f"\nstopped; {kept}", file=sys.stderr)
        return 130
    except (TrainingError, ModelFileError, FileNotFoundError, ValueError, FloatingPointError) as e:
        return fail(str(e))
    except Exception as e:  # under torchrun: this rank's error ends the run, and says which rank
        if not ranks.distributed:
            raise
        return fail(f"{type(e).__name__}: {e}")
    finally:
        # Collect the run's DDP wrappers (their frames may sit in reference cycles) before the
        # process group goes: one destroyed after it aborted a rank at exit now and then.
        gen = None
        gc.collect()
        distributed.stop()
        restore_sigterm()
    if ranks.is_main:
        print(f"saved {out}", file=sys.stderr)
    return 0


def _cmd_colorize(args) -> int:
    import numpy as np
    from PIL import Image

    from divcolor_gui.core.checkpoint import ModelFileError
    from divcolor_gui.core.colorizer import Colorizer
    from divcolor_gui.core.hints import (
        HintError,
        check_hints,
        load_hints,
        parse_hint,
        save_hints,
        sidecar_path,
    )
    from divcolor_gui.core.output_paths import atomic_path, check_output_dir, os_error_line
    from divcolor_gui.core.photo import PhotoError, load_photo, small_copy
    from divcolor_gui.core.sheet import contact_sheet

    try:
        check_output_dir(args.outdir)  # before the model loads: a bad -o costs nothing
        hints = (load_hints(args.hints) if args.hints else []) + [parse_hint(h) for h in args.hint]
        colorizer = Colorizer.load(args.model, args.device)
    except (ModelFileError, FileNotFoundError, ValueError) as e:  # HintError is a ValueError
        return _fail(str(e))
    k = max(1, min(args.k, colorizer.mdn.cfg.n_components))
    failed = 0
    written: dict[Path, Path] = {}  # each file written so far -> the photo it was written for
    for path in args.images:
        try:
            photo = load_photo(path, keep_original=False)
            check_hints(hints, *photo.size)
            analysis, fields = colorizer.modes(photo, k=k, hints=hints)
            outs = [args.outdir / f"{path.stem}_mode{i}.png" for i in range(1, len(fields) + 1)]
            sheet_path = args.outdir / f"{path.stem}_sheet.jpg"
            sidecar = sidecar_path(args.outdir / path.name)
            # Every file this photo writes, the sheet and the hints too, is the user's once it
            # exists; but the --hints file itself may be the sidecar, read and written back.
            given = hints and args.hints and sidecar.exists() and sidecar.samefile(args.hints)
            for out in [*outs, sheet_path, *([sidecar] if hints and not given else [])]:
                if out in written:  # a.jpg and a.png, or x/a.jpg and y/a.jpg: even --force keeps the first
                    raise FileExistsError(
                        f"{out} was just written for {written[out]}: colorize photos of the same name "
                        "into different folders"
                    )
                if out.exists() and not args.force:
                    raise FileExistsError(f"{out} exists (use --force to overwrite)")
            args.outdir.mkdir(parents=True, exist_ok=True)  # only once there is something to write
            # One mode at a time, rendered, written and let go: memory grows with the photo, not k.
            results, files = [], []
            for (w, field), out in zip(fields, outs):
                rgb = colorizer.render(analysis, field, mode=args.upsample)
                with atomic_path(out) as tmp:
                    Image.fromarray(rgb).save(tmp)
                written[out] = path
                results.append((w, small_copy(rgb)))
                files.append(str(out))
                del rgb
            grey = small_copy(photo.L.clamp(0, 100).mul(2.55).round().byte().numpy())
            sheet = contact_sheet(np.repeat(grey[..., None], 3, 2), results)
            with atomic_path(sheet_path) as tmp:
                sheet.save(tmp, quality=90)
            written[sheet_path] = path
            if hints:  # what steered these modes, beside them
                written[save_hints(sidecar, hints)] = path
            record = {
                "image": str(path), "size": list(photo.size), "model": colorizer.name,
                "modes": [{"rank": i + 1, "weight": round(w, 6), "file": f} for i, ((w, _), f) in enumerate(zip(results, files))],
                "sheet": str(sheet_path), "analysis_s": round(analysis.seconds, 4),
            }  # fmt: skip
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                ws = ", ".join(f"{w * 100:.1f}%" for w, _ in results)
                print(f"{path}: {len(files)} colorizations ({ws}) -> {args.outdir}", file=sys.stderr)
        except (PhotoError, HintError, FileExistsError, OSError) as e:
            failed += 1
            msg = os_error_line(e) if isinstance(e, OSError) and e.filename else str(e)
            # The path as given, whole: two a.jpg from different folders must be told apart.
            print(
                f"divcolor: {msg}" if msg.startswith(str(path)) else f"divcolor: {path}: {msg}",
                file=sys.stderr,
            )
            if args.json:
                print(json.dumps({"image": str(path), "error": msg}), flush=True)
    return 1 if failed else 0


def _report(args, result: dict, fmt) -> int:
    """Print an evaluation next to the paper's row for the data (or --paper); --json too."""
    paper = args.paper or next((k for k in ("faces", "churches", "general") if k in str(args.data)), None)
    print(fmt(result, paper))
    if args.json:
        from divcolor_gui.core.output_paths import write_json

        write_json(args.json, result)
    return 0


def _drain(gen, label: str):
    """Run an evaluation generator to its end, counting its (done, total) records on
    stderr; returns the generator's result."""
    counted = False
    try:
        while True:
            rec = next(gen)
            if isinstance(rec, tuple):
                print(f"\r{label} {rec[0]}/{rec[1]}", end="", file=sys.stderr, flush=True)
                counted = True
    except StopIteration as stop:
        return stop.value
    finally:
        if counted:  # end the count's line; an error before any count stays one line
            print(file=sys.stderr)


def _cmd_compare(args) -> int:
    from divcolor_gui.core.checkpoint import ModelFileError
    from divcolor_gui.core.resources import find_model
    from trainer.compare import compare, format_comparison

    names = [m.strip() for m in (args.methods or "ours").split(",") if m.strip()]
    try:
        models = {}
        for name in names:
            if name not in METHOD_LABELS:
                return _fail(f"unknown method {name!r} in --methods: choose from {', '.join(METHOD_LABELS)}")
            path = (
                args.model
                if name in ("ours", "per-pixel")
                else getattr(args, "model_" + name.replace("-", "_"))
            )
            if path is None and name not in ("ours", "per-pixel"):
                return _fail(f"--methods {name} needs --model-{name} PATH")
            models[name] = find_model(path)
        gen = compare(
            models, args.data, split=args.split, n_samples=args.samples, max_images=args.max_images,
            device=args.device, figure=args.figure, figure_rows=args.figure_rows,
        )  # fmt: skip
        result = _drain(gen, "compare")
    except (ModelFileError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    return _report(args, result, format_comparison)


def _cmd_eval(args) -> int:
    if args.against and (args.methods or args.figure or args.hints):
        return _fail("--against compares two models' own metrics: not with --methods, --figure or --hints")
    if args.methods or args.figure:
        return _cmd_compare(args)
    if args.hints:
        return _cmd_eval_hints(args)
    from divcolor_gui.core.checkpoint import ModelFileError, load_model
    from divcolor_gui.core.colorizer import Colorizer
    from divcolor_gui.core.device import resolve_device
    from divcolor_gui.core.resources import find_model
    from trainer.data import model_val_fraction
    from trainer.evaluate import evaluate, format_report, paired_difference
    from trainer.probe import feature_probe, format_probe

    try:
        device, path = resolve_device(args.device), find_model(args.model)
        bundle = load_model(path, device)
        name = bundle.meta.get("name") or path.stem
        vf = model_val_fraction(bundle.meta)

        def probe():
            return _drain(
                feature_probe(bundle.nets["features"], args.data, vf, args.max_images, device, name), "probe"
            )

        if args.probe and "features" in bundle.nets and not {"vae", "mdn"} <= bundle.nets.keys():
            # A feature network alone (`train --stages features`): judged before an MDN is trained on it.
            return _report(args, probe(), format_probe)
        try:
            colorizer = Colorizer(bundle, device, source=path)
        except ModelFileError as e:
            hint = " (a feature network alone: divcolor eval --probe)" if "features" in bundle.nets else ""
            raise ModelFileError(f"{e}{hint}") from None
        other = Colorizer.load(args.against, device) if args.against else None  # refused before any scoring
        result = _drain(
            evaluate(
                colorizer,
                args.data,
                split=args.split,
                max_images=args.max_images,
                per_photo=other is not None,
            ),
            "eval",
        )
        if other is not None:
            # The same photos: this model's split, by its validation share.
            mine = {"split": result["split"], "val_fraction": vf, "max_images": args.max_images}
            theirs = _drain(evaluate(other, args.data, per_photo=True, **mine), "eval")
            # Two models of one name (a candidate against the bundled one) told apart by file.
            same = other.name == colorizer.name and other.source is not None
            result["against"] = {
                "model": other.source.name if same else other.name,
                **paired_difference(result.pop("per_photo"), theirs["per_photo"]),
            }
        if args.probe:
            r = probe()
            result.update(probe_mae=r["probe_mae"], probe_train_mae=r["probe_train_mae"],
                          pca_mae=r["pca_mae"], probe_alpha=r["alpha"])  # fmt: skip
    except (ModelFileError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    return _report(args, result, format_report)


def _cmd_eval_hints(args) -> int:
    from divcolor_gui.core.checkpoint import ModelFileError
    from divcolor_gui.core.colorizer import Colorizer
    from trainer.data import model_val_fraction
    from trainer.hint_eval import evaluate_hints, format_hint_report

    try:
        try:
            counts = sorted({0, *(int(n) for n in args.hints.split(","))})
        except ValueError:
            counts = [-1]
        if counts[0] < 0 or counts[-1] > 4096:
            raise ValueError(
                f"--hints {args.hints}: give whole numbers of hints from 0 to 4096, e.g. 1,2,5,10"
            )
        colorizer = Colorizer.load(args.model, args.device)
        vf = model_val_fraction(colorizer.bundle.meta)
        gen = evaluate_hints(colorizer, args.data, counts=counts, n_photos=args.hint_photos, val_fraction=vf)
        result = _drain(gen, "hints")
    except (ModelFileError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    print(format_hint_report(result))
    if args.json:
        from divcolor_gui.core.output_paths import write_json

        write_json(args.json, result)
    return 0


def _cmd_models(args) -> int:
    from divcolor_gui.core.checkpoint import ModelFileError, read_model_dict
    from divcolor_gui.core.resources import DEFAULT_MODEL, available_models, bundled_models_dir

    rows = []
    for name, path in available_models().items():
        try:
            meta = read_model_dict(path).get("meta", {})
            trained = Path(meta.get("trained_on", "?")).name
            info = f"{meta.get('preset', '?')} preset, trained on {trained}, epochs {meta.get('epochs', {})}"
        except ModelFileError as e:
            info = f"unusable: {e}"
        where = "bundled" if path.parent == bundled_models_dir() else "yours"
        rows.append(
            {"name": name, "where": where, "path": str(path), "info": info, "default": name == DEFAULT_MODEL}
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no models yet: train one with `divcolor train`")
    else:
        for r in rows:
            star = "*" if r["default"] else " "
            print(f"{star} {r['name']:<16} {r['where']:<8} {r['info']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
