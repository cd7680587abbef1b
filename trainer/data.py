"""Training data: scan a folder, keep the usable colour photos, and stream them.

The first pass decodes every photo once into a small square uint8 copy stored in a
memory-mapped file (the cache). Training then reads random batches from that file:
resident memory stays bounded whatever the folder's size (a folder of 100,000 photos
is 1.2 GB on disk at 64 x 64, not in memory), and each epoch costs no JPEG decoding.
Several processes on one machine can build that cache together (scan_folder's share).

A folder too large for one disk cache is streamed instead (stream_folder): photos are
decoded again in every epoch, by DataLoader workers, a few batches ahead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from divcolor_gui.core.lab import mean_chroma_rgb8
from divcolor_gui.core.output_paths import write_json
from divcolor_gui.core.photo import PHOTO_SUFFIXES, PhotoError, read_rgb8
from divcolor_gui.core.resources import user_data_dir

MIN_TRAIN_SIDE = 32  # smaller photos carry too little to learn from
GREY_CHROMA = 1.5  # mean chroma (Lab units) below which a photo counts as greyscale


@dataclass
class ScanProgress:
    """Yielded while the folder is scanned and cached."""

    done: int
    total: int
    usable: int
    skipped: int
    stage: str = "scan"


@dataclass
class PhotoFolder:
    """What a cached and a streamed folder share: photos by relative path, the skipped
    ones by reason, and one train/validation split."""

    root: Path
    files: list[str]  # relative paths (FolderData: the usable photos; StreamedFolder: candidates)
    skipped: dict[str, list[str]]  # reason -> relative paths
    size: int  # side of the square photos, in pixels

    @property
    def skip_counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.skipped.items()}

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic train/val indices from a hash of each relative path, so the
        split is the same in every run, survives photos being added, and is the same
        whether the folder is cached or streamed."""
        return split_by_path(self.files, val_fraction)

    def batches(
        self,
        indices: np.ndarray,
        batch_size: int,
        shuffle: bool,
        rng: np.random.Generator | None = None,
        flip: bool = False,
        flips: np.ndarray | None = None,
    ) -> Iterator[torch.Tensor]:
        """(B, 3, S, S) uint8 batches of the photos at `indices` (batch_plan's order);
        random horizontal flips when `flip`, or those that `flips` (one bool per index,
        in the order given) says."""
        raise NotImplementedError


@dataclass
class FolderData(PhotoFolder):
    """A folder scanned once into a cache: `files` are the usable photos, in cache order."""

    images: np.ndarray = field(repr=False, kw_only=True)  # (N, S, S, 3) uint8 memmap

    def batches(
        self,
        indices: np.ndarray,
        batch_size: int,
        shuffle: bool,
        rng: np.random.Generator | None = None,
        flip: bool = False,
        flips: np.ndarray | None = None,
    ) -> Iterator[torch.Tensor]:
        for chunk, m in batch_plan(indices, batch_size, shuffle, rng, flip, flips):
            x = torch.from_numpy(np.ascontiguousarray(self.images[chunk])).permute(0, 3, 1, 2)
            m = torch.from_numpy(m)
            x[m] = x[m].flip(-1)
            yield x


def batch_plan(
    indices: np.ndarray,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator | None = None,
    flip: bool = False,
    flips: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The batches' (indices, flip flags) as FolderData.batches and StreamedFolder.batches
    take them: shuffled by `rng` when asked, flipped at random (`flip`) or as `flips` says
    (one bool per index, in the order given); each batch's indices sorted, their flags with
    them (sorted reads are kinder to the disk)."""
    order = rng.permutation(indices) if shuffle and rng is not None else indices
    for i in range(0, len(order), batch_size):
        chunk = np.asarray(order[i : i + batch_size])
        if flips is not None:
            m = np.asarray(flips[i : i + batch_size], dtype=bool)
        elif flip and rng is not None:
            m = rng.random(len(chunk)) < 0.5
        else:
            m = np.zeros(len(chunk), dtype=bool)
        sort = np.argsort(chunk, kind="stable")
        yield chunk[sort], m[sort]


VAL_FRACTION = 0.05  # the share of a folder's photos a new run holds out for validation


def model_val_fraction(meta: dict) -> float:
    """The validation share a model file was trained with (its held-out photos are those
    split_by_path gives for it); VAL_FRACTION for files that do not record it."""
    return float(meta.get("split", {}).get("val_fraction", VAL_FRACTION))


def split_by_path(files: list[str], val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into `files`: a photo is held out when crc32 of its relative
    path says so, whichever folder object (cached or streamed) lists it."""
    cut = int(round(val_fraction * 10000))
    is_val = np.array([zlib.crc32(f.encode()) % 10000 < cut for f in files], dtype=bool)
    idx = np.arange(len(files))
    train, val = idx[~is_val], idx[is_val]
    if len(val) == 0 and len(train) >= 2:  # tiny folders: hold out at least one photo
        train, val = train[:-1], train[-1:]
    return train, val


def folder_name(root: str | Path) -> str:
    """What a model file records of its photos folder: the name only, so that the file
    says nothing about the machine it was trained on and a copy of the folder elsewhere
    (under the same name) is recognised as the same photos."""
    return Path(root).resolve().name


def trained_on(meta: dict, root: str | Path) -> bool:
    """Whether a model (its file's meta) was trained on the folder `root`: by name (files
    from before the name alone was stored hold the full path; its last part counts)."""
    recorded = meta.get("trained_on")
    return bool(recorded) and Path(str(recorded)).name == folder_name(root)


def list_photo_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(candidates by suffix, other files), recursively, sorted, hidden files skipped."""
    photos, other = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            (photos if p.suffix.lower() in PHOTO_SUFFIXES else other).append(p)
    return photos, other


def classify_photo(path: Path, size: int) -> tuple[np.ndarray | None, str | None]:
    """(S, S, 3) uint8 copy of a usable photo, or None and the reason it is skipped."""
    try:
        rgb, mode = read_rgb8(path, draft_side=2 * size)
    except PhotoError as e:
        msg = str(e)
        return None, "too small" if "too small" in msg else "unreadable"
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_TRAIN_SIDE:
        return None, "too small"
    small = Image.fromarray(rgb).resize((size, size), Image.BICUBIC, reducing_gap=2.0)
    arr = np.asarray(small)
    if mean_chroma_rgb8(arr[::2, ::2]) < GREY_CHROMA:
        return None, "greyscale"
    return arr, None


def cache_dir_for(root: Path, size: int) -> Path:
    key = hashlib.sha1(f"{root.resolve()}|{size}|{GREY_CHROMA}|{MIN_TRAIN_SIDE}".encode()).hexdigest()[:16]
    return user_data_dir() / "cache" / f"{root.name}-{size}-{key}"


def _fingerprint(files: list[Path]) -> str:
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()


ROWS = "images.tmp.npy"  # one row per candidate, filled in by every process of a scan
FINAL_TMP = "images.final.tmp.npy"  # the usable rows, until renamed to images.npy
PLAN = "plan.json"  # process 0's decision and candidate list, for the others


def _photo_folder(root: str | Path) -> Path:
    """`root` as a Path, or FileNotFoundError saying in one line why it is no folder of photos."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: " + ("a file, not a folder" if root.exists() else "no such folder"))
    return root


def scan_folder(
    root: str | Path,
    size: int = 64,
    cache_dir: Path | None = None,
    max_images: int | None = None,
    sample_only: int | None = None,
    *,
    share: tuple[int, int] = (0, 1),
    barrier: Callable[[], None] | None = None,
):
    """Generator: yields ScanProgress, returns FolderData.

    sample_only: classify just that many photos and return no cache (for the app's
    preview of a folder before training).

    share=(i, n), barrier: n processes on this machine prepare the same cache together,
    each decoding candidates[i::n] (its progress is about those), and all get the
    FolderData one process alone would. barrier() returns once all n have called it;
    with n > 1 each process calls it exactly three times per scan, whether the cache
    is built or reused or something fails (raised after the third), so none waits
    forever. Process 0 decides, from its own listing, and the others follow its plan.
    """
    rank, n_proc = share
    if not 0 <= rank < n_proc:
        raise ValueError(f"share {share}: need 0 <= i < n")
    if n_proc > 1 and (barrier is None or sample_only is not None):
        raise ValueError("a shared scan needs a barrier, and builds the whole cache (no sample_only)")
    root = _photo_folder(root)
    candidates, other = list_photo_files(root)
    if max_images is not None:
        candidates = candidates[:max_images]
    skipped: dict[str, list[str]] = {}
    if other:
        skipped["not a photo"] = [str(p.relative_to(root)) for p in other]
    if sample_only is not None:
        return (yield from _scan_sample(root, candidates[:sample_only], size, skipped))

    cache_dir = cache_dir or cache_dir_for(root, size)
    sync = barrier if n_proc > 1 and barrier is not None else _no_barrier
    # A shared scan's own files (a single process leaves them alone: they may be another job's).
    stale = [cache_dir / PLAN, *(_part_path(cache_dir, r) for r in range(1, n_proc))] if n_proc > 1 else []
    failure: Exception | None = None
    build, fp, rels = False, "", []
    if rank == 0:  # decides for all, so that all do the same
        try:
            for p in stale:  # an earlier scan's plan or parts must never pass for this one's
                p.unlink(missing_ok=True)
            fp = _fingerprint(candidates)
            build = _open_cache(root, cache_dir, fp, size, skipped) is None
            if build:
                rels = [str(p.relative_to(root)) for p in candidates]
                _start_cache(cache_dir, len(rels), size)
            if n_proc > 1:
                write_json(cache_dir / PLAN, {"fingerprint": fp, "build": build, "files": rels}, indent=None)
        except Exception as e:
            failure = e
    sync()  # 1: the plan, and the rows file to fill in, exist
    if rank > 0:
        try:  # process 0's candidate list, not this one's: rows are placed by its order
            plan = json.loads((cache_dir / PLAN).read_text())
            build, fp, rels = plan["build"], plan["fingerprint"], plan["files"]
        except (OSError, ValueError, KeyError) as e:
            failure = RuntimeError(f"{cache_dir}: process 0 left no plan for this scan ({e})")
    reasons: list[str | None] = []
    if build and failure is None:
        try:
            reasons = yield from _scan_share(root, cache_dir, rels, size, share, len(other))
        except Exception as e:
            failure = e
        except BaseException:  # Ctrl-C, or the caller closed the scan: no half-built cache left
            if n_proc == 1:  # a shared scan's files are the other processes' too
                _drop_partial_cache(cache_dir)
            raise
    sync()  # 2: every share is in the rows file, and its reasons in its part file
    if rank == 0:
        try:
            if build and failure is None:
                all_reasons = _gather_reasons(cache_dir, len(rels), reasons, n_proc)
                _finish_cache(cache_dir, rels, all_reasons, skipped, fp, size)
        except Exception as e:
            failure = e
        except BaseException:
            if n_proc == 1:
                _drop_partial_cache(cache_dir)
            raise
        finally:
            for p in stale:
                p.unlink(missing_ok=True)
    sync()  # 3: the cache is complete, or will not be
    if failure is not None:
        raise failure
    data = _open_cache(root, cache_dir, fp, size, skipped)
    if data is None:
        raise RuntimeError(f"{cache_dir}: the cache was not built (process 0 says why)")
    if not build or n_proc > 1:  # a process building alone has reported the whole folder
        yield ScanProgress(len(candidates), len(candidates), len(data.files), sum(data.skip_counts.values()))
    return data


def _no_barrier() -> None:
    pass


def _drop_partial_cache(cache_dir: Path) -> None:
    """A scan stopped midway: its rows files (about 50 MB for every 1,000 photos at 128 px)
    would stay until a later scan of the same folder."""
    for name in (ROWS, FINAL_TMP):
        (cache_dir / name).unlink(missing_ok=True)


def _part_path(cache_dir: Path, rank: int) -> Path:
    return cache_dir / f"part-{rank}.json"


def _open_cache(
    root: Path, cache_dir: Path, fp: str, size: int, skipped: dict[str, list[str]]
) -> FolderData | None:
    """The cache if it is complete and of these photos at this size, else None."""
    try:
        index = json.loads((cache_dir / "index.json").read_text())
        if index.get("fingerprint") != fp or index.get("size") != size:
            return None
        files, images = index["files"], np.load(cache_dir / "images.npy", mmap_mode="r")
        skipped = {**skipped, **index["skipped"]}
    except (OSError, ValueError, KeyError, AttributeError):
        return None  # a damaged cache is rebuilt
    if images.shape != (len(files), size, size, 3):
        return None
    return FolderData(root, files, skipped, size, images=images)


def _start_cache(cache_dir: Path, n: int, size: int) -> None:
    """The empty rows file; the old index goes first, so that no process reads an index
    while the images it describes are being replaced."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "index.json").unlink(missing_ok=True)
    rows = np.lib.format.open_memmap(
        cache_dir / ROWS, mode="w+", dtype=np.uint8, shape=(max(n, 1), size, size, 3)
    )
    rows.flush()
    del rows


def _classify(paths: list[Path], size: int, put: Callable[[int, np.ndarray], None], n_before: int):
    """Generator: classify `paths` in order, handing put(k, copy) each usable photo's
    copy; yields ScanProgress (n_before: skips counted already), returns each photo's
    skip reason (None: usable)."""
    reasons: list[str | None] = []
    usable, last = 0, 0.0
    for k, path in enumerate(paths):
        arr, reason = classify_photo(path, size)
        if arr is None:
            reasons.append(reason or "unreadable")
        else:
            put(k, arr)
            reasons.append(None)
            usable += 1
        now = time.monotonic()
        if now - last > 0.2 or k == len(paths) - 1:
            last = now
            yield ScanProgress(k + 1, len(paths), usable, n_before + k + 1 - usable)
    return reasons


def _tally(
    rels: list[str], reasons: list[str | None], skipped: dict[str, list[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """(usable relative paths, skipped with the others added), both in candidate order."""
    skipped = {k: list(v) for k, v in skipped.items()}
    files = []
    for rel, why in zip(rels, reasons):
        if why is None:
            files.append(rel)
        else:
            skipped.setdefault(why, []).append(rel)
    return files, skipped


def _scan_sample(root: Path, candidates: list[Path], size: int, skipped: dict[str, list[str]]):
    """Generator: the sample_only scan, in memory (it is small), leaving the cache alone."""
    arrays: list[np.ndarray] = []
    n_before = sum(map(len, skipped.values()))
    reasons = yield from _classify(candidates, size, lambda k, arr: arrays.append(arr), n_before)
    files, skipped = _tally([str(p.relative_to(root)) for p in candidates], reasons, skipped)
    images = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), dtype=np.uint8)
    return FolderData(root, files, skipped, size, images=images)


def _scan_share(
    root: Path, cache_dir: Path, rels: list[str], size: int, share: tuple[int, int], n_before: int
):
    """Generator: classify this process's candidates, rels[i::n], into their rows of the
    rows file (at their candidate positions, so the rows do not depend on n); yields
    ScanProgress about them, returns their skip reasons (which a process other than 0
    also leaves in its part file, for process 0)."""
    rank, n_proc = share
    mine = range(rank, len(rels), n_proc)
    rows = np.load(cache_dir / ROWS, mmap_mode="r+")

    def put(k: int, arr: np.ndarray) -> None:
        rows[mine[k]] = arr

    reasons = yield from _classify([root / rels[j] for j in mine], size, put, n_before)
    rows.flush()
    if rank > 0:  # process 0 keeps its own in memory
        write_json(_part_path(cache_dir, rank), {"reasons": reasons}, indent=None)
    return reasons


def _gather_reasons(cache_dir: Path, n: int, own: list[str | None], n_proc: int) -> list[str | None]:
    """Every candidate's skip reason, from process 0's own and the others' part files."""
    reasons: list[str | None] = [None] * n
    reasons[0::n_proc] = own
    for r in range(1, n_proc):  # a part missing or of the wrong length raises: no cache then
        reasons[r::n_proc] = json.loads(_part_path(cache_dir, r).read_text())["reasons"]
    return reasons


def _finish_cache(
    cache_dir: Path,
    rels: list[str],
    reasons: list[str | None],
    skipped: dict[str, list[str]],
    fp: str,
    size: int,
) -> None:
    """Keep only the usable rows, in candidate order; the final file appears atomically,
    then its index (also atomically)."""
    files, skipped = _tally(rels, reasons, skipped)
    keep = np.array([j for j, why in enumerate(reasons) if why is None], dtype=np.int64)
    full = np.load(cache_dir / ROWS, mmap_mode="r")
    final_tmp = cache_dir / FINAL_TMP
    out = np.lib.format.open_memmap(final_tmp, mode="w+", dtype=np.uint8, shape=(len(files), size, size, 3))
    for i in range(0, len(keep), 4096):
        out[i : i + 4096] = full[keep[i : i + 4096]]
    out.flush()
    del out, full
    os.replace(final_tmp, cache_dir / "images.npy")
    (cache_dir / ROWS).unlink(missing_ok=True)
    index = {"fingerprint": fp, "size": size, "files": files, "skipped": skipped}
    write_json(cache_dir / "index.json", index, indent=None)  # compact: tens of thousands of names


NOTHING_SKIPPED = "nothing skipped"  # summarize_skips of a folder whose every file was used


def summarize_skips(skipped: dict[str, list[str]]) -> str:
    if not skipped:
        return NOTHING_SKIPPED
    c = Counter({k: len(v) for k, v in skipped.items()})
    return ", ".join(f"{n} {reason}" for reason, n in c.most_common())


@dataclass
class StreamedFolder(PhotoFolder):
    """A folder read photo by photo in every epoch, for when it is too large to cache:
    like FolderData, but `files` are all candidate photos (listing decodes
    nothing), so an index may turn out unusable; it is then dropped from its batch and
    recorded in `skipped` (which grows as photos are decoded), under the reason the
    cache would give, when first found."""

    workers: int = 2  # DataLoader worker processes decoding photos; 0: the calling process
    _dropped: set[int] = field(default_factory=set, repr=False)

    def batches(
        self,
        indices: np.ndarray,
        batch_size: int,
        shuffle: bool,
        rng: np.random.Generator | None = None,
        flip: bool = False,
        flips: np.ndarray | None = None,
    ) -> Iterator[torch.Tensor]:
        """The batches PhotoFolder.batches describes, less the photos found unusable (a
        batch left empty repeats the one before; skipped if first). The shuffle and the
        flips are all drawn from `rng` before the first batch, in FolderData's order of
        draws, since the loader reads ahead of the caller."""
        # arrays: a few bytes a photo, however many
        chunks = list(batch_plan(indices, batch_size, shuffle, rng, flip, flips))
        loader = torch.utils.data.DataLoader(
            _StreamedPhotos(self.root, self.files, self.size),
            batch_sampler=self._known_usable(chunks),
            num_workers=self.workers,
            collate_fn=_collate_photos,
            prefetch_factor=2 if self.workers else None,  # a few batches in memory, no more
        )
        last = None
        for x, dropped in loader:
            for j, why in dropped:
                self._drop(j, why)
            # One batch per chunk, always: processes training together under DDP must take
            # the same number of steps, so a chunk with no usable photo repeats the last batch.
            x = x if x is not None else last
            if x is not None:
                last = x
                yield x

    def _known_usable(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[list[tuple[int, bool]]]:
        """Each chunk's (index, flip) keys, less the photos already found unusable (not
        decoded again); read lazily, so a later epoch skips what an earlier one found. A
        chunk with nothing left is sent whole (and comes back empty): it still counts."""
        for idx, m in chunks:
            keep = [(int(j), bool(f)) for j, f in zip(idx, m) if int(j) not in self._dropped]
            yield keep or [(int(j), bool(f)) for j, f in zip(idx, m)]

    def _drop(self, j: int, why: str) -> None:
        if j not in self._dropped:
            self._dropped.add(j)
            self.skipped.setdefault(why, []).append(self.files[j])


class _StreamedPhotos(torch.utils.data.Dataset):
    """Item (index, flip) -> (index, (S, S, 3) uint8 copy or None, skip reason or None),
    decoded wherever the DataLoader calls it (a worker process, or the caller's)."""

    def __init__(self, root: Path, files: list[str], size: int):
        self.root, self.files, self.size = root, files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, bool]) -> tuple[int, np.ndarray | None, str | None]:
        j, flip = key
        arr, reason = classify_photo(self.root / self.files[j], self.size)
        if arr is None:
            return j, None, reason or "unreadable"
        return j, np.ascontiguousarray(arr[:, ::-1]) if flip else arr, None


def _collate_photos(items: list) -> tuple[torch.Tensor | None, list[tuple[int, str]]]:
    """((B, 3, S, S) uint8 of the usable photos or None, [(index, reason)] of the others)."""
    kept = [arr for _, arr, _ in items if arr is not None]
    dropped = [(j, why) for j, arr, why in items if arr is None]
    return (torch.from_numpy(np.stack(kept)).permute(0, 3, 1, 2) if kept else None), dropped


def stream_folder(
    root: str | Path, size: int = 64, max_images: int | None = None, workers: int = 2
) -> StreamedFolder:
    """The folder's candidate photos, listed but not decoded (see StreamedFolder)."""
    root = _photo_folder(root)
    candidates, other = list_photo_files(root)
    if max_images is not None:
        candidates = candidates[:max_images]
    skipped = {"not a photo": [str(p.relative_to(root)) for p in other]} if other else {}
    return StreamedFolder(root, [str(p.relative_to(root)) for p in candidates], skipped, size, workers)
