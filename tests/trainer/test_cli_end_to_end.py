"""`divcolor` as a user runs it (python -m divcolor_gui, in a subprocess) on the model
trained in conftest: colorize, eval, train's refusals, and a Qt-free train + colorize."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from divcolor_gui.core.checkpoint import load_model, save_model

REPO = Path(__file__).resolve().parents[2]


def divcolor(args: list[str], env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "divcolor_gui", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_colorize_writes_full_resolution_modes_and_fails_on_the_bad_file(
    trained_model, tmp_path, subprocess_env, photo_factory
):
    img = tmp_path / "street.jpg"
    Image.fromarray(photo_factory(60, 90, seed=77)).save(img, quality=92)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    r = divcolor(
        [
            "colorize",
            img,
            bad,
            "-k",
            "3",
            "-o",
            out,
            "--model",
            trained_model.path,
            "--json",
            "--device",
            "cpu",
        ],
        subprocess_env,
    )
    assert r.returncode == 1, r.stderr  # one file failed

    for i in (1, 2, 3):
        mode = out / f"street_mode{i}.png"
        assert mode.is_file()
        with Image.open(mode) as im:
            assert im.size == (90, 60) and im.mode == "RGB"
    assert not (out / "street_mode4.png").exists()
    sheet = out / "street_sheet.jpg"
    with Image.open(sheet) as im:
        assert im.width > im.height  # input + 3 modes side by side

    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 2
    ok, failed = lines
    assert ok["image"] == str(img) and ok["size"] == [90, 60] and ok["model"] == "tiny"
    assert [m["rank"] for m in ok["modes"]] == [1, 2, 3]
    weights = [m["weight"] for m in ok["modes"]]
    assert weights == sorted(weights, reverse=True) and 0 < sum(weights) <= 1 + 1e-6
    assert [Path(m["file"]).name for m in ok["modes"]] == [f"street_mode{i}.png" for i in (1, 2, 3)]
    assert Path(ok["sheet"]) == sheet
    assert failed["image"] == str(bad) and failed["error"] and "\n" not in failed["error"]
    err_lines = [ln for ln in r.stderr.splitlines() if "bad.jpg" in ln]
    assert len(err_lines) == 1


def test_colorize_does_not_overwrite_without_force(trained_model, tmp_path, subprocess_env, photo_factory):
    img = tmp_path / "p.png"
    Image.fromarray(photo_factory(40, 40, seed=1)).save(img)
    out = tmp_path / "o"
    out.mkdir()
    (out / "p_mode1.png").write_bytes(b"mine")
    r = divcolor(
        ["colorize", img, "-k", "1", "-o", out, "--model", trained_model.path, "--device", "cpu"],
        subprocess_env,
    )
    assert r.returncode == 1
    assert (out / "p_mode1.png").read_bytes() == b"mine"
    assert "--force" in r.stderr


def test_eval_writes_the_papers_metrics(trained_model, tmp_path, subprocess_env):
    out = tmp_path / "metrics.json"
    r = divcolor(
        [
            "eval",
            "--data",
            trained_model.folder.root,
            "--model",
            trained_model.path,
            "--json",
            out,
            "--device",
            "cpu",
        ],
        subprocess_env,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    for key in ("vae_mae", "vae_wmae", "eob", "var"):
        assert isinstance(res[key], float) and math.isfinite(res[key]) and res[key] >= 0, key
    assert res["vae_mae"] < 1 and res["eob"] < 1  # ab/128: errors are fractions
    assert res["split"] == "val" and res["n_images"] >= 1  # the folder it was trained on: its val split
    assert "VAE MAE" in r.stdout
    # the folder's unreadable and greyscale files are said, not silently dropped
    assert "greyscale" in res["skipped"] and "unreadable" in res["skipped"]
    assert f"files not used: {res['skipped']}" in r.stdout


def test_eval_against_a_second_model_scores_the_same_photos(trained_model, tmp_path, subprocess_env):
    other = tmp_path / "other.pt"
    bundle = load_model(trained_model.path)
    with torch.no_grad():  # another MDN: its means moved
        for p in bundle.nets["mdn"].parameters():
            p.add_(torch.randn_like(p) * 0.5)
    save_model(bundle, other)
    out = tmp_path / "paired.json"
    args = ["eval", "--data", trained_model.folder.root, "--model", trained_model.path, "--against", other]
    r = divcolor([*args, "--json", out, "--device", "cpu"], subprocess_env)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    against = res["against"]
    assert against["n_paired"] == res["n_images"]  # this model's validation photos, every one
    for key in ("eob", "top1_mae"):  # the same photos: the paired mean is the difference of the means
        # (up to the float32 sums of the set's means)
        assert against[key]["diff"] == pytest.approx(res[key] - against[key]["theirs"], abs=1e-6)
        assert against[key]["diff"] != 0 and against[key]["se"] > 0
    assert "per_photo" not in res
    assert f"against {against['model']}, photo by photo ({res['n_images']} photos" in r.stdout
    # Against itself every photo meets its own score: any photo paired with another's would
    # leave a difference (the means above match whatever the pairing).
    r = divcolor([*args[:-1], trained_model.path, "--json", out, "--device", "cpu"], subprocess_env)
    assert r.returncode == 0, r.stderr
    itself = json.loads(out.read_text())["against"]
    assert all(itself[key]["diff"] == 0 and itself[key]["se"] == 0 for key in ("eob", "top1_mae"))


def test_eval_against_a_missing_model_fails_in_one_line(trained_model, tmp_path, subprocess_env):
    args = ["eval", "--data", trained_model.folder.root, "--model", trained_model.path]
    r = divcolor([*args, "--against", tmp_path / "none.pt", "--device", "cpu"], subprocess_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # with the method comparison or the hint study it would be ignored: refused instead
    r = divcolor([*args, "--against", trained_model.path, "--hints", "1"], subprocess_env)
    assert r.returncode == 2 and "--against" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_train_into_an_existing_model_fails_with_exit_2(trained_model, subprocess_env):
    before = trained_model.path.read_bytes()
    r = divcolor(["train", "--data", trained_model.folder.root, "--out", trained_model.path, "--preset", "tiny",
                  "--device", "cpu"], subprocess_env)  # fmt: skip
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("divcolor: error:") and "exists" in lines[0] and "--resume" in lines[0]
    assert trained_model.path.read_bytes() == before


def test_train_and_colorize_with_qt_blocked(photo_folder, tmp_path, subprocess_env, photo_factory):
    """The whole Qt-free path on a "server without Qt": `divcolor train` then `colorize`
    through cli.main, in an interpreter that refuses every Qt import."""
    img = tmp_path / "q.png"
    Image.fromarray(photo_factory(50, 70, seed=8)).save(img)
    model, out = tmp_path / "noqt.pt", tmp_path / "noqt_out"
    code = textwrap.dedent(
        f"""
        import sys
        BLOCKED = ("PySide6", "shiboken6", "pyqtgraph")
        class NoQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, NoQt())
        from divcolor_gui.cli import main
        rc = main(["train", "--data", {str(photo_folder.root)!r}, "--out", {str(model)!r}, "--preset", "tiny",
                   "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--max-images", "16"])
        assert rc == 0, rc
        rc = main(["colorize", {str(img)!r}, "-k", "2", "-o", {str(out)!r}, "--model", {str(model)!r}, "--device", "cpu"])
        assert rc == 0, rc
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("NO-QT PIPELINE OK")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NO-QT PIPELINE OK" in r.stdout
    assert model.is_file() and (out / "q_mode2.png").is_file()


def test_a_terminated_training_stops_as_ctrl_c_does(photo_folder, tmp_path, subprocess_env):
    """`kill` (SIGTERM) mid-run: the run stops after a step, says what it kept, releases its
    lock, and the kept epoch loads and resumes."""
    import signal

    from trainer.output_lock import lock_path

    out = tmp_path / "t.pt"
    cmd = [sys.executable, "-m", "divcolor_gui", "train", "--data", str(photo_folder.root),
           "--out", str(out), "--preset", "tiny", "--batch-size", "8", "--epochs", "400,400,400"]  # fmt: skip
    p = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "epoch 3/400" not in seen:  # epochs 1 and 2 saved
        chunk = p.stderr.read(64)
        assert chunk, f"training ended early: {seen[-500:]}"
        seen += chunk
    p.send_signal(signal.SIGTERM)
    rest = p.communicate(timeout=120)[1]
    assert p.returncode == 130, rest[-500:]
    assert (
        rest.strip().splitlines()[-1]
        == f"stopped; {out} holds the last finished epoch (continue with --resume)"
    )
    assert out.is_file() and not lock_path(out).exists()
    r = divcolor(
        ["train", "--data", photo_folder.root, "--out", out, "--resume", "--epochs", "3,1,1"], subprocess_env
    )
    assert r.returncode == 0, r.stderr[-500:]


def test_eval_scores_all_the_modes_of_a_model_with_fewer_than_k(trained_model, run_to_end):
    """An MDN with fewer components than the k scored (a preset changed by hand) is scored
    on all of them, rather than failing in a reshape."""
    from divcolor_gui.core.colorizer import Colorizer
    from trainer.evaluate import evaluate

    colorizer = Colorizer.load(trained_model.path, "cpu")
    K = colorizer.mdn.cfg.n_components
    _, result = run_to_end(evaluate(colorizer, trained_model.folder.root, k=K + 3, max_images=12))
    assert result["k"] == K and math.isfinite(result["eob"])
