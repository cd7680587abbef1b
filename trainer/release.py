"""Make a bundled copy of a trained model: half-precision weights (the networks run in
float32 after loading), a name, and the size checked against the bundle's budget.

    python -m trainer.release runs/general.pt resources/models/general.pt --name general
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from divcolor_gui.core.checkpoint import load_model, save_model

MAX_BYTES = 25 * 1024 * 1024  # the limit per bundled model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.release")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", default="")
    args = ap.parse_args(argv)
    bundle = load_model(args.src, "cpu")
    bundle.meta["name"] = args.name
    if args.description:
        bundle.meta["description"] = args.description
    save_model(bundle, args.dst, half=True)
    size = args.dst.stat().st_size
    print(f"{args.dst}: {size / 2**20:.1f} MiB")
    if size > MAX_BYTES:
        print(f"too large for the bundle (limit {MAX_BYTES / 2**20:.0f} MiB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
