"""Training data: scan a folder, keep the usable colour photos, and stream them.

The first pass decodes every photo once into a small square uint8 copy stored in a
memory-mapped file (the cache). Training then reads random batches from that file:
resident memory stays bounded whatever the folder's size (a folder of 100,000 photos
is 1.2 GB on disk at 64 x 64, not in memory), and each epoch costs no JPEG decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

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
class FolderData:
    root: Path
    files: list[str]  # relative paths of the usable photos, in cache order
    skipped: dict[str, list[str]]  # reason -> relative paths
    images: np.ndarray  # (N, S, S, 3) uint8 memmap
    size: int

    @property
    def skip_counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.skipped.items()}

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic train/val indices from a hash of each relative path, so the
        split is the same in every run and survives photos being added."""
        cut = int(round(val_fraction * 10000))
        is_val = np.array([zlib.crc32(f.encode()) % 10000 < cut for f in self.files], dtype=bool)
        idx = np.arange(len(self.files))
        train, val = idx[~is_val], idx[is_val]
        if len(val) == 0 and len(train) >= 2:  # tiny folders: hold out at least one photo
            train, val = train[:-1], train[-1:]
        return train, val

    def batches(
        self,
        indices: np.ndarray,
        batch_size: int,
        shuffle: bool,
        rng: np.random.Generator | None = None,
        flip: bool = False,
        flips: np.ndarray | None = None,
    ) -> Iterator[torch.Tensor]:
        """(B, 3, S, S) uint8 batches; random horizontal flips when `flip`, or those that
        `flips` (one bool per index, in the order given) says."""
        order = rng.permutation(indices) if shuffle and rng is not None else indices
        for i in range(0, len(order), batch_size):
            chunk = order[i : i + batch_size]
            if flips is not None:
                m = torch.from_numpy(np.asarray(flips[i : i + batch_size], dtype=bool))
            elif flip and rng is not None:
                m = torch.from_numpy(rng.random(len(chunk)) < 0.5)
            else:
                m = None
            sort = np.argsort(chunk, kind="stable")  # sorted reads are kinder to the disk
            chunk = chunk[sort]
            x = torch.from_numpy(np.ascontiguousarray(self.images[chunk])).permute(0, 3, 1, 2)
            if m is not None:
                m = m[torch.from_numpy(sort)]
                x[m] = x[m].flip(-1)
            yield x


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
    if _mean_chroma(arr) < GREY_CHROMA:
        return None, "greyscale"
    return arr, None


def _mean_chroma(rgb8: np.ndarray) -> float:
    from divcolor_gui.core import lab

    t = torch.from_numpy(rgb8[::2, ::2].copy()).permute(2, 0, 1).float() / 255
    return float(lab.rgb_to_lab(t)[1:].norm(dim=0).mean())


def cache_dir_for(root: Path, size: int) -> Path:
    key = hashlib.sha1(f"{root.resolve()}|{size}|{GREY_CHROMA}|{MIN_TRAIN_SIDE}".encode()).hexdigest()[:16]
    return user_data_dir() / "cache" / f"{root.name}-{size}-{key}"


def _fingerprint(files: list[Path]) -> str:
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()


def scan_folder(
    root: str | Path,
    size: int = 64,
    cache_dir: Path | None = None,
    max_images: int | None = None,
    sample_only: int | None = None,
):
    """Generator: yields ScanProgress, returns FolderData.

    sample_only: classify just that many photos and return no cache (for the app's
    preview of a folder before training).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    candidates, other = list_photo_files(root)
    if max_images is not None:
        candidates = candidates[:max_images]
    skipped: dict[str, list[str]] = {}
    if other:
        skipped["not a photo"] = [str(p.relative_to(root)) for p in other]
    if sample_only is not None:
        candidates = candidates[:sample_only]

    cache_dir = cache_dir or cache_dir_for(root, size)
    index_path = cache_dir / "index.json"
    fp = _fingerprint(candidates)
    if sample_only is None and index_path.is_file():
        try:
            index = json.loads(index_path.read_text())
            if index.get("fingerprint") == fp and index.get("size") == size:
                images = np.load(cache_dir / "images.npy", mmap_mode="r")
                skipped.update(index["skipped"])
                yield ScanProgress(
                    len(candidates), len(candidates), len(index["files"]), sum(map(len, skipped.values()))
                )
                return FolderData(root, index["files"], skipped, images, size)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp_path = cache_dir / "images.tmp.npy"
    n = len(candidates)
    images = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=np.uint8, shape=(max(n, 1), size, size, 3))
    files: list[str] = []
    last = 0.0
    for i, path in enumerate(candidates):
        arr, reason = classify_photo(path, size)
        rel = str(path.relative_to(root))
        if arr is None:
            skipped.setdefault(reason or "unreadable", []).append(rel)
        else:
            images[len(files)] = arr
            files.append(rel)
        now = time.monotonic()
        if now - last > 0.2 or i == n - 1:
            last = now
            yield ScanProgress(i + 1, n, len(files), sum(map(len, skipped.values())))
    images.flush()
    del images
    if sample_only is not None:
        data = np.load(tmp_path, mmap_mode="r")[: len(files)]
        return FolderData(root, files, skipped, np.array(data), size)
    # Keep only the usable rows; the final file appears atomically with its index.
    full = np.load(tmp_path, mmap_mode="r")
    final_tmp = cache_dir / "images.final.tmp.npy"
    out = np.lib.format.open_memmap(final_tmp, mode="w+", dtype=np.uint8, shape=(len(files), size, size, 3))
    for i in range(0, len(files), 4096):
        j = min(i + 4096, len(files))
        out[i:j] = full[i:j]
    out.flush()
    del out, full
    os.replace(final_tmp, cache_dir / "images.npy")
    tmp_path.unlink(missing_ok=True)
    index_path.write_text(json.dumps({"fingerprint": fp, "size": size, "files": files, "skipped": skipped}))
    return FolderData(root, files, skipped, np.load(cache_dir / "images.npy", mmap_mode="r"), size)


def summarize_skips(skipped: dict[str, list[str]]) -> str:
    if not skipped:
        return "nothing skipped"
    c = Counter({k: len(v) for k, v in skipped.items()})
    return ", ".join(f"{n} {reason}" for reason, n in c.most_common())
