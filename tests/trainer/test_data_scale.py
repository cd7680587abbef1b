"""Data for larger runs: a cache prepared by several processes together (scan_folder's
share and barrier; threads stand in for the processes here) gives exactly what one
process's scan gives, and a streamed folder (stream_folder) gives the cached pixels."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import data as data_mod
from trainer.data import ScanProgress, list_photo_files, scan_folder, stream_folder

SIZE = 48  # rows of 6,912 bytes: processes writing neighbouring rows share memory pages
N_COLOUR = 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photo_factory) -> Path:
    """8 colour photos (two nested, two not square), 2 greyscale, 1 unreadable, 1 too
    small, and a text file: 12 candidates, 8 usable."""
    root = tmp_path_factory.mktemp("scale_photos")
    (root / "sub").mkdir()
    for i in range(N_COLOUR):
        h, w = (96, 96) if i % 3 else (80, 120)
        rel = f"sub/c{i}.jpg" if i >= 6 else f"c{i}.jpg"
        Image.fromarray(photo_factory(h, w, seed=300 + i)).save(root / rel, quality=92)
    Image.fromarray(photo_factory(96, 96, seed=1, grey=True)).save(root / "b_grey.jpg", quality=92)
    Image.fromarray(photo_factory(96, 96, seed=2, grey=True)).save(root / "sub" / "old.png")
    (root / "broken.jpg").write_bytes(b"not a JPEG" * 50)
    Image.fromarray(photo_factory(24, 24, seed=3)).save(root / "tiny.png")
    (root / "notes.txt").write_text("captions\n")
    return root


def _consume(gen):
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            return records, stop.value


def _shared_scan(root: Path, cache_dir: Path, n: int, **kw):
    """n threads, each scanning its share: ([(records, FolderData)], [error], [barrier calls])."""
    barrier = threading.Barrier(n, timeout=120)  # a deadlock fails the test instead of hanging it
    results, errors, calls = [None] * n, [None] * n, [0] * n

    def work(i: int) -> None:
        def wait() -> None:
            calls[i] += 1
            barrier.wait()

        try:
            results[i] = _consume(
                scan_folder(root, size=SIZE, cache_dir=cache_dir, share=(i, n), barrier=wait, **kw)
            )
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a shared scan hung"
    return results, errors, calls


@pytest.fixture(scope="module")
def single(folder, tmp_path_factory):
    """One process's scan: (cache dir, FolderData)."""
    cache = tmp_path_factory.mktemp("single_cache")
    _, data = _consume(scan_folder(folder, size=SIZE, cache_dir=cache))
    return cache, data


def _same_cache(a: Path, b: Path) -> None:
    assert (a / "images.npy").read_bytes() == (b / "images.npy").read_bytes()
    assert (a / "index.json").read_bytes() == (b / "index.json").read_bytes()


# ----------------------------------------------------------------------------- shared scan


@pytest.mark.parametrize("n", [2, 3])
def test_shared_scan_equals_single_scan(folder, single, tmp_path, n):
    single_cache, one = single
    assert one.skip_counts == {"not a photo": 1, "greyscale": 2, "unreadable": 1, "too small": 1}
    results, errors, calls = _shared_scan(folder, tmp_path, n)
    assert errors == [None] * n
    assert calls == [3] * n
    for records, data in results:
        assert data.files == one.files
        assert list(data.skipped.items()) == list(one.skipped.items())
        assert np.array_equal(data.images, one.images)
        # Each process reports its own share, then the whole folder.
        assert records and all(isinstance(r, ScanProgress) for r in records)
        last = records[-1]
        assert (last.done, last.total, last.usable, last.skipped) == (12, 12, 8, 5)
    _same_cache(single_cache, tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["images.npy", "index.json"]  # no plan, parts or rows left


def test_shared_scan_reuses_a_valid_cache(folder, single, tmp_path, monkeypatch):
    single_cache, one = single
    _, errors, calls = _shared_scan(folder, tmp_path, 2)
    assert errors == [None, None] and calls == [3, 3]
    before = {f: (tmp_path / f).stat() for f in ("images.npy", "index.json")}

    def no_decoding(*a, **k):
        raise AssertionError("a valid cache was rebuilt")

    monkeypatch.setattr(data_mod, "classify_photo", no_decoding)
    results, errors, calls = _shared_scan(folder, tmp_path, 2)
    assert errors == [None, None]
    assert calls == [3, 3]  # as many barriers as when building: none waits for another
    for records, data in results:
        assert data.files == one.files and data.skipped == one.skipped
        assert [(r.done, r.total, r.usable) for r in records] == [(12, 12, 8)]
    for f, st in before.items():
        now = (tmp_path / f).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    _, data = _consume(scan_folder(folder, size=SIZE, cache_dir=tmp_path))  # one process: the same cache
    assert data.files == one.files


def test_shared_scan_rebuilds_a_damaged_cache(folder, single, tmp_path):
    single_cache, _ = single
    _shared_scan(folder, tmp_path, 2)
    (tmp_path / "index.json").write_text('{"fingerprint": ')
    _, errors, calls = _shared_scan(folder, tmp_path, 2)
    assert errors == [None, None] and calls == [3, 3]
    _same_cache(single_cache, tmp_path)


def test_a_failing_process_fails_every_process_without_a_deadlock(folder, single, tmp_path, monkeypatch):
    real = data_mod.classify_photo
    second = list_photo_files(folder)[0][1]  # process 1's first candidate

    def broken(path, size):
        if Path(path) == second:
            raise RuntimeError("disk on fire")
        return real(path, size)

    monkeypatch.setattr(data_mod, "classify_photo", broken)
    _, errors, calls = _shared_scan(folder, tmp_path, 2)
    assert calls == [3, 3]
    assert "disk on fire" in str(errors[1])
    assert errors[0] is not None  # process 1's part is missing: no cache is made
    assert not (tmp_path / "index.json").exists()
    monkeypatch.setattr(data_mod, "classify_photo", real)
    _, errors, _ = _shared_scan(folder, tmp_path, 2)  # the next scan starts clean
    assert errors == [None, None]
    _same_cache(single[0], tmp_path)


def test_sample_only_is_single_process_and_leaves_the_cache_alone(folder, single, tmp_path):
    _, one = single
    records, data = _consume(scan_folder(folder, size=SIZE, cache_dir=tmp_path / "c", sample_only=4))
    candidates = [str(p.relative_to(folder)) for p in list_photo_files(folder)[0][:4]]
    assert data.files == [f for f in candidates if f in one.files]
    assert data.images.shape == (len(data.files), SIZE, SIZE, 3)
    assert np.array_equal(data.images, one.images[[one.files.index(f) for f in data.files]])
    assert records[-1].done == records[-1].total == 4
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValueError):
        _consume(scan_folder(folder, size=SIZE, sample_only=4, share=(0, 2), barrier=lambda: None))


def test_a_scan_stopped_midway_leaves_no_half_built_cache(folder, tmp_path):
    """Ctrl-C, or a cancelled scan in the Trainer tab, closes the scan: its rows file (about
    50 MB for every 1,000 photos at 128 px) goes with it."""
    cache = tmp_path / "c"
    gen = scan_folder(folder, size=SIZE, cache_dir=cache)
    while not (cache / data_mod.ROWS).exists():
        assert isinstance(next(gen), ScanProgress)
    gen.close()
    assert not (cache / data_mod.ROWS).exists() and not (cache / data_mod.FINAL_TMP).exists()
    _, data = _consume(scan_folder(folder, size=SIZE, cache_dir=cache))  # the next scan starts over
    assert len(data.files) == N_COLOUR


# ----------------------------------------------------------------------------- streaming


def _cat(batches) -> torch.Tensor:
    return torch.cat(list(batches))


def test_stream_lists_without_decoding(folder, monkeypatch):
    def no_decoding(*a, **k):
        raise AssertionError("listing decoded a photo")

    monkeypatch.setattr(data_mod, "classify_photo", no_decoding)
    sf = stream_folder(folder, size=SIZE)
    assert sf.files == [str(p.relative_to(folder)) for p in list_photo_files(folder)[0]]
    assert len(sf.files) == 12 and sf.size == SIZE and sf.root == folder
    assert sf.skipped == {"not a photo": ["notes.txt"]} and sf.skip_counts == {"not a photo": 1}
    assert len(stream_folder(folder, max_images=5).files) == 5


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_are_the_cached_pixels(folder, single, workers):
    _, one = single
    sf = stream_folder(folder, size=SIZE, workers=workers)
    for _ in range(2):  # the second pass skips what the first found, and records it once
        batches = list(sf.batches(np.arange(len(sf.files)), 4, shuffle=False))
        assert all(
            b.dtype == torch.uint8 and b.shape[1:] == (3, SIZE, SIZE) and 1 <= len(b) <= 4 for b in batches
        )
        assert torch.equal(torch.cat(batches), _cat(one.batches(np.arange(len(one.files)), 4, shuffle=False)))
        assert {k: sorted(v) for k, v in sf.skipped.items()} == {k: sorted(v) for k, v in one.skipped.items()}


def test_streamed_batches_drop_unusable_photos_and_empty_batches(folder, single):
    _, one = single
    sf = stream_folder(folder, size=SIZE, workers=0)
    unusable = [i for i, f in enumerate(sf.files) if f not in one.files]
    assert list(sf.batches(np.array(unusable), 2, shuffle=False)) == []  # nothing usable: no batch
    assert sf.skip_counts == one.skip_counts
    # One batch a chunk (processes under DDP must take as many steps as each other): a chunk
    # with nothing usable repeats the batch before it; before the first usable one, none.
    batches = list(sf.batches(np.arange(len(sf.files)), 1, shuffle=False))
    first = min(i for i in range(len(sf.files)) if i not in unusable)
    assert len(batches) == len(sf.files) - first
    after = [i for i in unusable if i > first]
    assert after and all(torch.equal(batches[i - first], batches[i - first - 1]) for i in after)
    assert len({b.numpy().tobytes() for b in batches}) == len(one.files)


def test_streamed_flips_are_honoured(folder, single):
    _, one = single
    sf = stream_folder(folder, size=SIZE, workers=0)
    order = np.random.default_rng(5).permutation(len(sf.files))
    flips = np.random.default_rng(6).random(len(order)) < 0.5
    got = _cat(sf.batches(order, 5, shuffle=False, flips=flips))
    # The same photos, in the same order, with the same flips, from the cache:
    usable = [k for k, i in enumerate(order) if sf.files[i] in one.files]
    want = []
    for k in range(0, len(order), 5):  # batch by batch, rows sorted within each as both do
        keep = [u for u in usable if k <= u < k + 5]
        idx = np.array([one.files.index(sf.files[order[u]]) for u in keep], dtype=np.int64)
        want += list(one.batches(idx, 5, shuffle=False, flips=flips[keep]))
    assert torch.equal(got, torch.cat(want))
    assert flips[usable].any() and not torch.equal(got, _cat(sf.batches(order, 5, shuffle=False)))


def test_streamed_shuffle_and_random_flips_follow_the_rng(folder):
    sf = stream_folder(folder, size=SIZE, workers=0)
    idx = np.arange(len(sf.files))
    a = _cat(sf.batches(idx, 4, shuffle=True, rng=np.random.default_rng(1), flip=True))
    b = _cat(sf.batches(idx, 4, shuffle=True, rng=np.random.default_rng(1), flip=True))
    plain = _cat(sf.batches(idx, 4, shuffle=False))
    assert torch.equal(a, b) and not torch.equal(a, plain)
    rows = {x.numpy().tobytes() for x in plain} | {x.flip(-1).numpy().tobytes() for x in plain}
    assert all(x.numpy().tobytes() in rows for x in a)  # each row a photo, flipped or not


@pytest.mark.parametrize("val_fraction", [0.3, 0.5])
def test_streamed_split_is_the_cached_split(folder, single, val_fraction):
    _, one = single
    sf = stream_folder(folder, size=SIZE)
    for cached_idx, streamed_idx in zip(one.split(val_fraction), sf.split(val_fraction)):
        streamed = {sf.files[i] for i in streamed_idx} & set(one.files)
        assert streamed == {one.files[i] for i in cached_idx}
        assert streamed  # both sides hold photos, or the comparison says little


def _scan_in_process(root, cache_dir, i, n, barrier, out) -> None:
    calls = 0

    def wait() -> None:
        nonlocal calls
        calls += 1
        barrier.wait()

    try:
        _, data = _consume(scan_folder(root, size=SIZE, cache_dir=cache_dir, share=(i, n), barrier=wait))
        out.put((i, calls, data.files, data.skipped))
    except BaseException as e:  # noqa: BLE001 - reported to the test
        out.put((i, calls, repr(e), None))


def test_shared_scan_in_processes(folder, single, tmp_path):
    """Real processes, started fresh as torchrun starts them: rows written through separate
    mappings of the same file. (Not forked: a fork of a process that has run torch's
    thread pool can hang.)"""
    single_cache, one = single
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2, timeout=120), ctx.Queue()
    procs = [
        ctx.Process(target=_scan_in_process, args=(folder, tmp_path, i, 2, barrier, out)) for i in range(2)
    ]
    for p in procs:
        p.start()
    try:
        got = sorted(out.get(timeout=240) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert got == [(0, 3, one.files, one.skipped), (1, 3, one.files, one.skipped)]
    _same_cache(single_cache, tmp_path)
