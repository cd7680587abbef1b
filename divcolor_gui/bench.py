"""`divcolor bench`: how fast this machine colorizes, Qt-free.

Medians over repeated runs after a warm-up:
  analyze_ms  load a 12-megapixel JPEG + grey features + MDN (Colorizer.analyze)
  decode_ms   one latent -> one 64x64 colour field
  preview_ms  one latent -> preview pixels at 1024 px (decode + render(max_side=1024)),
              what each live slider update costs in the app
  live_per_s  previews a second from the app's live decoding: LIVE_WORKERS threads, each on
              its share of torch's threads, on successive frames side by side (without the
              window's own painting, which benchmarks/live_preview.py includes)
  export_ms   the full-resolution render of the 12-megapixel photo
  hint_ms     one re-solve of every mode after a colour-hint edit (5 hints; core/hints.py)
  hint_setup_ms  the hint solver's set-up, once per photo (the decoder linearised)
  rss_mb      peak resident memory of the whole run
  startup_ms  from starting `divcolor gui` to its first painted window (a fresh process each
              time; offscreen where there is no display)
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHOTO_SIZE = (4000, 3000)  # width, height: 12 megapixels
PREVIEW_SIDE = 1024
PREVIEW_TARGET_PER_S = 60  # the app's goal for live slider updates
# (warm-up runs, measured runs) per figure: enough for a stable median in under a minute or so
RUNS = {"analyze": (1, 5), "decode": (5, 30), "preview": (3, 15), "live": (4, 60), "export": (1, 3),
        "hint_setup": (1, 3), "hint": (3, 15), "startup": (1, 3)}  # fmt: skip
KEYS = (
    "analyze_ms",
    "decode_ms",
    "preview_ms",
    "live_per_s",
    "export_ms",
    "hint_ms",
    "hint_setup_ms",
    "rss_mb",
    "startup_ms",
)
STARTUP_TIMEOUT_S = 120
HINT_COLOURS = ("#3366cc", "#cc3322", "#33aa44", "#ddcc55", "#885533")


def _photo_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A generated photo with smooth regions and fine texture, so the JPEG is realistic in
    size and decoding cost (pure noise would be far bigger, a flat field far smaller)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(max(2, height // 200), max(2, width // 200), 3)).astype(np.uint8)
    from PIL import Image

    out = np.array(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))
    # The texture a band of rows at a time: the harness must not be what rss_mb measures.
    band = max(1, 1_000_000 // width)
    for y0 in range(0, height, band):
        rows = out[y0 : y0 + band]
        texture = rng.integers(-12, 13, size=(*rows.shape[:2], 1), dtype=np.int16)
        rows[:] = np.clip(rows + texture, 0, 255)
    return out


def _timed(fn, warmup: int, runs: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of fn(); CPU time shows the cost when other work
    competes for the cores and wall time is inflated."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _peak_rss_mb() -> float | None:
    """None where the system cannot say (Windows has no `resource` module)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(colorizer, photo_size: tuple[int, int] | None = None, runs: dict | None = None) -> dict:
    """The figures for one loaded Colorizer; keys as in KEYS (plus cpu_* for the table)."""
    import torch
    from PIL import Image

    from divcolor_gui.core.photo import load_photo

    photo_size = photo_size or PHOTO_SIZE
    runs = {**RUNS, **(runs or {})}
    with tempfile.TemporaryDirectory(prefix="divcolor-bench-") as tmp:
        path = Path(tmp) / "bench.jpg"
        Image.fromarray(_photo_rgb(*photo_size)).save(path, quality=90)

        state: dict = {}

        def analyze():
            state.pop("a", None)  # one photo at a time, as the app holds them
            state["a"] = colorizer.analyze(load_photo(path))

        analyze_ms, analyze_cpu = _timed(analyze, *runs["analyze"])
        a = state["a"]
        z = a.means[:1]  # (1, d)

        decode_ms, decode_cpu = _timed(lambda: colorizer.decode(z, a), *runs["decode"])

        def preview():
            f = colorizer.decode(z, a)[0]
            return colorizer.render(a, f, max_side=PREVIEW_SIDE)

        preview_ms, preview_cpu = _timed(preview, *runs["preview"])
        live_per_s = _live_rate(preview, *runs["live"])
        field = colorizer.decode(z, a)[0]
        export_ms, export_cpu = _timed(lambda: colorizer.render(a.photo, field), *runs["export"])

        from divcolor_gui.core.hints import HintSolver, make_hint

        def setup():
            state["solver"] = HintSolver(colorizer, a)

        hint_setup_ms, hint_setup_cpu = _timed(setup, *runs["hint_setup"])
        W, H = a.photo.size
        spots = [make_hint(W * (i + 1) / 6, H * (5 - i) / 6, c) for i, c in enumerate(HINT_COLOURS)]
        hint_ms, hint_cpu = _timed(lambda: state["solver"].solve(spots), *runs["hint"])
    return {
        "analyze_ms": round(analyze_ms, 1),
        "decode_ms": round(decode_ms, 2),
        "preview_ms": round(preview_ms, 1),
        "live_per_s": round(live_per_s, 1),
        "export_ms": round(export_ms, 1),
        "hint_ms": round(hint_ms, 1),
        "hint_setup_ms": round(hint_setup_ms, 1),
        "rss_mb": None if (rss := _peak_rss_mb()) is None else round(rss, 1),
        "cpu": {
            "analyze_ms": round(analyze_cpu, 1),
            "decode_ms": round(decode_cpu, 2),
            "preview_ms": round(preview_cpu, 1),
            "export_ms": round(export_cpu, 1),
            "hint_ms": round(hint_cpu, 1),
            "hint_setup_ms": round(hint_setup_cpu, 1),
        },
        "threads": torch.get_num_threads(),
        "photo": f"{photo_size[0]}x{photo_size[1]}",
    }


def _live_rate(frame, warmup: int, frames: int) -> float:
    """Frames a second from LIVE_WORKERS threads pinned as the app's live decoders are, each
    making frames back to back until `frames` are made between them (after `warmup` each)."""
    import threading

    from divcolor_gui.core.device import pin_torch_threads
    from divcolor_gui.core.vocabulary import LIVE_WORKERS

    left = [frames]
    lock = threading.Lock()
    start = threading.Barrier(LIVE_WORKERS + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            pin_torch_threads(LIVE_WORKERS)
            for _ in range(warmup):
                frame()
            start.wait()
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                frame()
        except threading.BrokenBarrierError:
            pass  # another worker failed: its error is the one reported
        except BaseException as e:
            errors.append(e)
            start.abort()  # nobody waits for a worker that will not come

    threads = [threading.Thread(target=worker) for _ in range(LIVE_WORKERS)]
    for t in threads:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return frames / (time.perf_counter() - t0)


def startup_ms(model: str | None = None, runs: tuple[int, int] | None = None) -> float:
    """Median wall time from starting `divcolor gui` (a fresh process; the packaged program
    itself when frozen) to its line saying the window is painted."""
    from divcolor_gui.core.vocabulary import SHOWN_LINE

    warmup, n = runs or RUNS["startup"]
    head = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "divcolor_gui"]
    cmd = [*head, "gui", "--exit-when-shown", *(["--model", str(model)] if model else [])]
    env = dict(os.environ)
    if sys.platform.startswith("linux") and not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        shown = None
        try:
            for line in proc.stdout:
                if line.strip() == SHOWN_LINE:
                    shown = (time.perf_counter() - t0) * 1000
                    break
        finally:
            proc.stdout.close()
            proc.wait(timeout=STARTUP_TIMEOUT_S)
        if shown is None:
            raise RuntimeError(f"`{' '.join(cmd)}` ended without showing its window")
        if i >= warmup:  # the first run fills the disk cache
            times.append(shown)
    return statistics.median(times)


def machine_name() -> str:
    """The CPU's model, its core count and the system: figures mean little without them."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def format_table(fig: dict, model: str, device: str) -> str:
    rows = [
        ("analyze", "analyze_ms", f"load {fig['photo']} JPEG + features + MDN"),
        ("decode", "decode_ms", "one latent -> 64x64 field"),
        ("preview", "preview_ms", f"decode + render at {PREVIEW_SIDE} px"),
        ("export", "export_ms", f"full-resolution render ({fig['photo']})"),
        ("hint", "hint_ms", f"re-solve every mode after a hint edit ({len(HINT_COLOURS)} hints)"),
        ("hints on", "hint_setup_ms", "hint solver set-up, once per photo"),
    ]
    lines = [
        f"model {model} on {device}, {fig['threads']} torch threads (medians after warm-up)",
        f"machine: {machine_name()}",
        f"{'':<9}{'wall ms':>10}{'cpu ms':>10}  what",
    ]
    for name, key, what in rows:
        lines.append(f"{name:<9}{fig[key]:>10.1f}{fig['cpu'][key]:>10.1f}  {what}")
    rate = fig["live_per_s"]
    verdict = "meets" if rate >= PREVIEW_TARGET_PER_S else "below"
    lines.append(
        f"live previews: {rate:.1f} updates/s at {PREVIEW_SIDE} px, as the app decodes them while a slider "
        f"moves ({verdict} the {PREVIEW_TARGET_PER_S}/s target)"
    )
    rss = fig["rss_mb"]
    lines.append(
        "peak memory: not measured on this system" if rss is None else f"peak memory: {rss:.0f} MB resident"
    )
    if "startup_ms" in fig:
        lines.append(f"startup: {fig['startup_ms']:.0f} ms from `divcolor gui` to its first painted window")
    return "\n".join(lines)


def run_bench(args) -> int:
    from divcolor_gui.core.checkpoint import ModelFileError
    from divcolor_gui.core.colorizer import Colorizer

    try:
        colorizer = Colorizer.load(args.model, args.device)
    except (ModelFileError, FileNotFoundError, ValueError) as e:
        print(f"divcolor: error: {e}", file=sys.stderr)
        return 2
    started = round(startup_ms(args.model), 1)  # first, while nothing else is loaded or running
    fig = {**measure(colorizer), "startup_ms": started}
    record = {
        "model": colorizer.name, "device": str(colorizer.device), "machine": machine_name(),
        **{k: fig[k] for k in KEYS},
    }  # fmt: skip
    print(format_table(fig, record["model"], record["device"]))
    if args.json:
        from divcolor_gui.core.output_paths import write_json

        write_json(args.json, record)
    return 0
