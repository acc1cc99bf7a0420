"""The linear probe (no pickle) and the issue-6 shift benchmark on a few images, so it cannot rot."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED
from jewelhelpers.core.probe import LinearProbe, fit_probe, probe_accuracy

ROOT = Path(__file__).resolve().parents[1]


def _features(n_per_class: list[int], seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(n_per_class), 16))
    x = np.concatenate([c + rng.normal(0, 1, (n, 16)) for c, n in zip(centres, n_per_class)])
    return x, [f"c{i}" for i, n in enumerate(n_per_class) for _ in range(n)]


def test_probe_fits_and_round_trips_without_pickle(tmp_path):
    x, y = _features([30, 30, 30])
    probe = fit_probe(x, y, ["c0", "c1", "c2"])
    assert probe_accuracy(probe, x, y) > 0.95
    probe.save(tmp_path)
    again = LinearProbe.load(tmp_path)  # np.load(allow_pickle=False) inside
    np.testing.assert_allclose(again.predict_proba(x), probe.predict_proba(x))
    assert np.allclose(probe.predict_proba(x).sum(1), 1)


def test_balanced_weights_shift_the_decision_towards_the_small_class():
    x, y = _features([300, 12], seed=3)
    point = x[:300].mean(0) * 0.5 + x[300:].mean(0) * 0.5  # half-way between the classes
    plain = fit_probe(x, y, ["c0", "c1"], balanced=False).predict_proba(point[None])[0, 1]
    balanced = fit_probe(x, y, ["c0", "c1"], balanced=True).predict_proba(point[None])[0, 1]
    assert balanced > plain


@pytest.mark.skipif(not (SHARED / "other_shops").is_dir(), reason="needs ../shared/datasets (real photos)")
def test_shift_benchmark_runs_on_a_few_images():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "shift_check.py"), "--max-per-class", "3",
                           "--no-cache", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("myntra_fashion", "western_lifestyle", "wall time"):
        assert name in done.stdout
