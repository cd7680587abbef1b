"""trainer.evaluate.paired_difference: two models compared photo by photo (`divcolor eval --against`)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate import paired_difference


def test_paired_difference_pairs_photos_by_file_and_gives_the_standard_error():
    ours = {"files": ["a", "b", "c", "d"], "eob": [0.10, 0.20, 0.30, 0.40], "top1_mae": [0.5, 0.5, 0.5, 0.5]}
    # Theirs in another order, with a photo ours did not score and without ours' "d".
    theirs = {"files": ["c", "x", "a", "b"], "eob": [0.28, 9.0, 0.10, 0.17], "top1_mae": [0.4, 9.0, 0.6, 0.5]}
    r = paired_difference(ours, theirs)
    d = np.array([0.10 - 0.10, 0.20 - 0.17, 0.30 - 0.28])
    assert r["n_paired"] == 3
    assert r["eob"]["diff"] == pytest.approx(d.mean())
    assert r["eob"]["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert r["eob"]["theirs"] == pytest.approx((0.10 + 0.17 + 0.28) / 3)
    assert r["top1_mae"]["diff"] == pytest.approx(0.0)


def test_paired_difference_refuses_models_without_photos_in_common():
    one = {"files": ["a"], "eob": [0.1], "top1_mae": [0.1]}
    with pytest.raises(ValueError, match="in common"):
        paired_difference(one, {"files": ["b", "c"], "eob": [0.1, 0.2], "top1_mae": [0.1, 0.2]})
