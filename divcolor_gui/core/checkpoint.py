"""The one model file format.

A model file is a single `torch.save`d dict of plain containers and tensors, so it
loads with `torch.load(weights_only=True)`: a file from a stranger cannot run code.

    {"format": "divcolor-model", "version": 1,
     "nets":  {role: {"class": "VAE", "config": {...}, "state": state_dict}},
     "stats": DatasetStats.to_dict() or None,
     "meta":  {"name", "trained_on", "preset", "epochs", "history", ...}}

Roles: "features" (ColorNet), "vae" (VAE), "mdn" (MDN); "vae_skip"/"mdn_skip" and
baselines add their own. Each net carries its config, so the file rebuilds its
networks without the code that trained it.
"""

from __future__ import annotations

import dataclasses
import os
import typing
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from .nets import NETWORKS
from .output_paths import atomic_path
from .stats import DatasetStats

FORMAT = "divcolor-model"
VERSION = 1


class ModelFileError(Exception):
    """A model file that cannot be used; str() is one line saying why."""


@dataclass
class ModelBundle:
    nets: dict[str, nn.Module]
    stats: DatasetStats | None = None
    meta: dict = field(default_factory=dict)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(cls, d: dict):
    """Rebuild a (possibly nested) config dataclass; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ModelFileError(f"{cls.__name__} has settings this version does not know: {sorted(unknown)}")
    kwargs = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = config_from_dict(t, v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def net_to_entry(net: nn.Module, half: bool = False) -> dict:
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in net.state_dict().items()
    }
    return {"class": type(net).__name__, "config": config_to_dict(net.cfg), "state": state}


def net_from_entry(entry: dict, device: torch.device | str = "cpu") -> nn.Module:
    try:
        cls, cfg_cls = NETWORKS[entry["class"]]
    except KeyError:
        raise ModelFileError(f"unknown network class {entry.get('class')!r}") from None
    cfg = config_from_dict(cfg_cls, entry["config"])
    try:
        net = cls(cfg)
    except (ValueError, RuntimeError) as e:  # sizes no network can have (negative, zero)
        raise ModelFileError(
            f"the {entry['class']} config cannot be built ({str(e).splitlines()[0]})"
        ) from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in entry["state"].items()}
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        # A run that diverged: such weights colour nothing, and fail deep in the rendering.
        raise ModelFileError(f"the {entry['class']} weights hold NaN or infinite values")
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(
            f"weights do not match the {entry['class']} config ({str(e).splitlines()[0]})"
        ) from None
    # Channels-last: on a CPU the convs of a batch run about 1.5x faster in that layout (a
    # lite128 feature network, batches of 64 on 2 cores: 106 -> 158 images/s), which is most
    # of evaluating a model, probing its features, ranking its modes and caching a frozen
    # trunk's inputs. One photo's analysis runs as fast either way; linear layers are unaffected.
    return net.to(device).to(memory_format=torch.channels_last).eval()


def bundle_to_dict(bundle: ModelBundle, half: bool = False) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "nets": {role: net_to_entry(net, half) for role, net in bundle.nets.items()},
        "stats": bundle.stats.to_dict() if bundle.stats is not None else None,
        "meta": bundle.meta,
    }


def atomic_save(obj, path: str | Path) -> None:
    """torch.save through atomic_path, synced to the disk before the rename: a crash or
    Ctrl-C mid-write leaves the previous file intact."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def save_model(bundle: ModelBundle, path: str | Path, half: bool = False) -> None:
    atomic_save(bundle_to_dict(bundle, half=half), path)


def read_model_dict(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """Load and validate the raw dict; every failure is one ModelFileError line."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.stat().st_size == 0:  # torch says only "()" of it
        raise ModelFileError(f"{name}: the file is empty (a copy or download that did not finish?)")
    try:
        # A foreign pickle makes torch warn about its protocol before refusing it: the
        # refusal below is the one line the user sees.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location=device, weights_only=True)
    except (zipfile.BadZipFile, EOFError) as e:
        raise ModelFileError(f"{name}: the file is truncated or corrupt ({e})") from None
    except (PermissionError, IsADirectoryError) as e:
        raise ModelFileError(f"{name}: cannot be opened ({e.strerror})") from None
    except OSError as e:  # a zip cut short seeks past its end: EINVAL rather than a zip error
        raise ModelFileError(f"{name}: the file is truncated or corrupt ({e.strerror or e})") from None
    except RuntimeError as e:
        msg = str(e).splitlines()[0][:160]  # torch's first line can run on with advice
        if "zip archive" in msg or "central directory" in msg or "file not found" in msg:
            raise ModelFileError(f"{name}: the file is truncated or corrupt ({msg})") from None
        raise ModelFileError(f"{name}: cannot be read as a model ({msg})") from None
    except Exception as e:  # UnpicklingError for foreign pickles, among others
        # torch's message is a page of advice about weights_only; the useful line is
        # the one naming what was refused.
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        useful = [ln for ln in lines if "Unsupported" in ln] or [
            ln for ln in lines if "file an issue" not in ln.lower() and "weights_only" not in ln
        ]
        why = (useful[0] if useful else type(e).__name__)[:160]
        raise ModelFileError(
            f"{name}: not a divcolor model file, or one holding code that is refused for safety ({why})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ModelFileError(f"{name}: not a divcolor model file (no '{FORMAT}' header)")
    version = obj.get("version")
    if not isinstance(version, int):
        raise ModelFileError(f"{name}: not a divcolor model file (format version {version!r})")
    if version > VERSION:
        raise ModelFileError(
            f"{name}: written by a newer divcolor (format version {version}, this one reads up to {VERSION})"
        )
    if not isinstance(obj.get("nets"), dict):
        raise ModelFileError(f"{name}: the file holds no networks")
    if not isinstance(obj.get("meta") or {}, dict):  # everything reading a model expects a table
        raise ModelFileError(f"{name}: the file's settings (meta) are not a table")
    return obj


def load_model(path: str | Path, device: torch.device | str = "cpu") -> ModelBundle:
    obj = read_model_dict(path, device)
    try:
        nets = {role: net_from_entry(e, device) for role, e in obj["nets"].items()}
        stats = DatasetStats.from_dict(obj["stats"]) if obj.get("stats") else None
    except ModelFileError as e:
        raise ModelFileError(f"{Path(path).name}: {e}") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{Path(path).name}: the model file is incomplete ({e!r})") from None
    return ModelBundle(nets=nets, stats=stats, meta=dict(obj.get("meta") or {}))
