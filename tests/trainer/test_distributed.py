"""Training on several processes (trainer.distributed): torchrun with Gloo on this CPU.

The runs use the tiny preset on the shared generated folder (30 colour photos), so each
torchrun costs seconds; a fresh DIVCOLOR_HOME makes the two processes build the cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from divcolor_gui.core.checkpoint import load_model
from trainer.distributed import Ranks, ranks_from_env, step_forward
from trainer.loop import StageData

TRAIN = ["--preset", "tiny", "--batch-size", "8", "--device", "cpu", "--seed", "3"]
# Two processes against one: the same global batches and seed, so the same run apart from
# BatchNorm, whose statistics each process takes over its own half of the batch (Gloo has
# no SyncBatchNorm), the VAE's posterior draws (each process draws for its own photos) and
# the order of float sums. Compared: each stage's validation figure of merit (the feature
# network's and the VAE's losses, the MDN's error-of-best); measured within 2 % here. The
# MDN's own loss, whose latent term divides by a small variance, is left out.
TOLERANCE = 0.05
FIGURES = {"features": ("loss",), "vae": ("loss", "mae"), "mdn": ("eob",)}


def _torchrun(n: int, args: list, env: dict, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}"]
    return subprocess.Popen(
        [*cmd, "-m", "divcolor_gui", "train", *map(str, args)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def _divcolor(args: list, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "divcolor_gui", "train", *map(str, args)]
    return subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=300)


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _val_history(path: Path) -> dict[str, list[dict]]:
    meta = load_model(path, "cpu").meta
    return {role: [e["val"] for e in h] for role, h in meta["history"].items()}


@pytest.fixture
def env(subprocess_env, tmp_path) -> dict:
    home = tmp_path / "home"  # no cache yet: the processes prepare it together
    return dict(subprocess_env, DIVCOLOR_HOME=str(home))


def test_ranks_come_from_torchruns_environment():
    assert ranks_from_env({}) == Ranks()
    r = ranks_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (r.rank, r.world, r.local_rank, r.local_world, r.is_main) == (3, 4, 1, 2, False)


def test_the_processes_share_out_the_global_batches(photo_folder):
    """Rank r's k-th local batch and the others' are, together, a single process's k-th
    batch (flips included): any number of processes trains on the same batches."""
    idx = np.arange(5, 42)

    def sd(rank, world):
        return StageData(None, idx, idx[:3], 8, torch.device("cpu"), 64, seed=3, ranks=Ranks(rank, world))

    one_order, one_flips = sd(0, 1).epoch_order(2)
    assert sorted(one_order) == sorted(idx)
    parts = [sd(r, 2).epoch_order(2) for r in range(2)]
    for k in range(sd(0, 1).steps_per_epoch - 1):  # the last batch is padded out
        want = set(zip(one_order[8 * k : 8 * k + 8], one_flips[8 * k : 8 * k + 8]))
        got = {
            pair for order, flips in parts for pair in zip(order[4 * k : 4 * k + 4], flips[4 * k : 4 * k + 4])
        }
        assert got == want
    assert sd(0, 2).steps_per_epoch == sd(0, 1).steps_per_epoch
    assert not np.array_equal(one_order, sd(0, 1).epoch_order(3)[0])  # a new order each epoch
    assert sorted(np.concatenate([sd(r, 2).val_shard for r in range(2)])) == sorted(idx[:3])


def test_two_processes_train_every_stage_like_one(photo_folder, env, tmp_path):
    args = ["--data", photo_folder.root, "--epochs", "1,2,1", *TRAIN]
    one = _divcolor([*args, "--out", tmp_path / "one" / "m.pt"], env)
    assert one.returncode == 0, one.stderr
    proc = _torchrun(2, [*args, "--out", tmp_path / "two" / "m.pt"], env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err

    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["m.pt", "m.resume.pt"]  # one writer
    assert err.count("saved ") == 1 and "rank 1" not in err  # rank 0 alone reports
    two = load_model(tmp_path / "two" / "m.pt", "cpu")
    assert two.meta["processes"] == 2 and two.meta["progress"] == {"features": 1, "vae": 2, "mdn": 1}
    h1, h2 = _val_history(tmp_path / "one" / "m.pt"), _val_history(tmp_path / "two" / "m.pt")
    assert h1.keys() == h2.keys() == {"features", "vae", "mdn"}
    for role, keys in FIGURES.items():
        for e1, e2 in zip(h1[role], h2[role], strict=True):
            for key in keys:
                assert e2[key] == pytest.approx(e1[key], rel=TOLERANCE), (role, key, e1, e2)


def _ddp_grads(rank: int, world: int, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """One training step of a small network under step_forward, on this rank's half."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    forward = step_forward([net], Ranks(rank, world), torch.device("cpu"))
    mine = slice(rank, None, world)
    forward(lambda: ((net(x[mine]) - y[mine]) ** 2).mean()).backward()
    return [p.grad for p in net.parameters()]


def _ddp_step(rank: int, world: int, init: str, x: torch.Tensor, y: torch.Tensor, out: str) -> None:
    import gc

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        torch.save(_ddp_grads(rank, world, x, y), f"{out}.{rank}")
    finally:
        # Free the DDP wrapper (made and dropped in _ddp_grads) before its process group.
        # When it was still alive here, a child once died at exit with SIGABRT ("terminate
        # called without an active exception"): C++ objects of gloo's destroyed at
        # interpreter teardown, the likely cause. The trainer's stages also end first.
        gc.collect()
        dist.destroy_process_group()


def test_ddp_averages_the_gradients_of_the_global_batch(tmp_path):
    """Each of 2 processes takes half the batch; after the backward each holds the gradient
    one process gets from the whole batch (DDP's all-reduce through step_forward)."""
    import torch.multiprocessing as mp

    x, y = torch.randn(8, 6), torch.randn(8, 3)
    mp.spawn(_ddp_step, args=(2, f"file://{tmp_path / 'init'}", x, y, str(tmp_path / "g")), nprocs=2)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    ((net(x) - y) ** 2).mean().backward()
    for rank in range(2):
        grads = torch.load(tmp_path / f"g.{rank}")
        for got, want in zip(grads, [p.grad for p in net.parameters()], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds torchrun's workers in /proc")
def test_a_killed_two_process_run_resumes_with_one(photo_folder, env, tmp_path):
    out = tmp_path / "m.pt"
    args = ["--data", photo_folder.root, "--out", out, "--epochs", "1,40,1", *TRAIN]
    proc = _torchrun(2, args, env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and load_model(out, "cpu").meta["progress"].get("vae", 0) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        workers = _children(proc.pid)  # torchrun starts each in a session of its own
        assert len(workers) == 2
        for pid in [proc.pid, *workers]:  # all at once, mid-epoch, as a power cut would
            os.kill(pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    before = load_model(out, "cpu").meta
    done = before["progress"]["vae"]
    assert 2 <= done < 40

    r = _divcolor([*args, "--resume"], env)
    assert r.returncode == 0, r.stderr
    after = load_model(out, "cpu").meta
    assert after["progress"] == {"features": 1, "vae": 40, "mdn": 1} and after["processes"] == 1
    # The epochs the two processes finished are kept, not trained again.
    assert after["history"]["vae"][:done] == before["history"]["vae"]


def test_a_rank_that_fails_ends_the_run_with_its_error(photo_folder, env, tmp_path):
    """Rank 1 fails at its first training step (a sitecustomize that only torchrun's second
    worker acts on): the whole run ends, non-zero, saying which rank and why; no hang."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import trainer.loop\n"
        "    def check_finite(t, what):\n"
        "        raise RuntimeError('injected failure on this rank')\n"
        "    trainer.loop.check_finite = check_finite\n"
    )
    env = dict(env, PYTHONPATH=os.pathsep.join([str(inject), env.get("PYTHONPATH", "")]))
    t0 = time.monotonic()
    proc = _torchrun(
        2, ["--data", photo_folder.root, "--out", tmp_path / "m.pt", "--epochs", "1,2,1", *TRAIN], env
    )
    _, err = proc.communicate(timeout=240)
    assert proc.returncode != 0
    assert "rank 1: RuntimeError: injected failure on this rank" in err
    assert time.monotonic() - t0 < 200


def test_bf16_autocast_trains(photo_folder, env, tmp_path):
    """--precision bf16 (meant for GPUs) runs every stage on the CPU too, finite throughout."""
    out = tmp_path / "m.pt"
    r = _divcolor(
        ["--data", photo_folder.root, "--out", out, "--epochs", "1,1,1", "--precision", "bf16", *TRAIN], env
    )
    assert r.returncode == 0, r.stderr
    meta = load_model(out, "cpu").meta
    assert meta["precision"] == "bf16"
    vals = [v for h in _val_history(out).values() for e in h for v in e.values()]
    assert vals and all(np.isfinite(vals))
    assert "images/s" in r.stderr


def test_batch_must_split_over_the_processes(photo_folder, env, tmp_path):
    args = ["--data", photo_folder.root, "--out", tmp_path / "m.pt", *TRAIN, "--batch-size", "7"]
    proc = _torchrun(2, args, env)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode != 0 and "--batch-size 7 does not split evenly over 2 processes" in err


def test_two_processes_stream_a_folder_without_caching_it(photo_folder, env, tmp_path):
    """--stream: the photos are decoded in every epoch by DataLoader workers; no cache."""
    out = tmp_path / "m.pt"
    args = ["--data", photo_folder.root, "--out", out, "--epochs", "1,1,1", "--stream", *TRAIN]
    proc = _torchrun(2, args, env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    meta = load_model(out, "cpu").meta
    assert meta["progress"] == {"features": 1, "vae": 1, "mdn": 1}
    assert meta["skipped"] == {"not a photo": 1, "greyscale": 1, "unreadable": 1}
    assert not (Path(env["DIVCOLOR_HOME"]) / "cache").exists()


@pytest.mark.parametrize("method", ["cvae", "cgan"])
def test_two_processes_train_the_baselines(photo_folder, env, tmp_path, method):
    """Every method under DDP, the cGAN's two forwards and backwards a step included."""
    out = tmp_path / "m.pt"
    args = ["--data", photo_folder.root, "--out", out, "--epochs", "1,2,1", "--method", method, *TRAIN]
    proc = _torchrun(2, args, env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    meta = load_model(out, "cpu").meta
    assert meta["method"] == method and meta["processes"] == 2
    assert all(np.isfinite(v) for h in _val_history(out).values() for e in h for v in e.values())
