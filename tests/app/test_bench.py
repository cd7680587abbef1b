"""`divcolor bench`: the JSON has exactly the agreed keys, with plausible figures."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace

from divcolor_gui import bench

# Figures the README table and the issues rely on (the JSON may hold more).
AGREED = ("analyze_ms", "decode_ms", "preview_ms", "live_per_s", "export_ms", "hint_ms", "rss_mb")


def test_bench_writes_the_agreed_keys(tiny_model_file, tmp_path, monkeypatch, capsys):
    # A small photo and few runs: this checks the plumbing; the real figures are 12 MP.
    monkeypatch.setattr(bench, "PHOTO_SIZE", (400, 300))
    monkeypatch.setattr(
        bench, "RUNS",
        {"analyze": (1, 2), "decode": (1, 3), "preview": (1, 2), "live": (1, 4), "export": (0, 2), "hint_setup": (0, 1),
         "hint": (1, 2), "startup": (0, 1)},
    )  # fmt: skip
    out = tmp_path / "bench.json"
    assert bench.run_bench(Namespace(json=out, model=str(tiny_model_file), device="cpu")) == 0
    rec = json.loads(out.read_text())
    assert set(rec) == {*bench.KEYS, "model", "device", "machine"}
    assert rec["machine"] and "cores" in rec["machine"]
    assert set(bench.KEYS) >= set(AGREED)
    assert rec["model"] == "tiny" and rec["device"] == "cpu"
    for k in bench.KEYS:
        assert isinstance(rec[k], float) and rec[k] > 0, k
    table = capsys.readouterr().out
    assert "updates/s at 1024 px" in table and "400x300" in table


def test_bench_does_not_import_qt(tiny_model_file, tmp_path):
    code = (
        "import sys, divcolor_gui.bench as b;"
        "b.PHOTO_SIZE=(64,48); b.RUNS={k:(0,1) for k in b.RUNS};"
        "from argparse import Namespace;"
        f"assert b.run_bench(Namespace(json=None, model={str(tiny_model_file)!r}, device='cpu')) == 0;"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
