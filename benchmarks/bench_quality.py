"""Quality tracks: a fast-but-wrong commit shows here even when every timing improves.

Metrics are computed with plain NumPy in float64 (``common.brute_force_bmu``), independent of
the kernels under test. Each runs on 1 and 2 threads: a race in a threaded kernel shows as a
worse error under ``threads=2`` only. Lower is better for every value here.
"""

from __future__ import annotations

import numpy as np

from . import common

SIDE = 15
DIM = 8
RANDOM_STEPS = 5000
BATCH_EPOCHS = 20


def _trained_metrics(backend, dtype, training, threads):
    """(quantization error, topographic error) of a 15x15 map trained on 2,000 clustered
    samples (D=8) with ``MiniSam(random_seed=1, n_jobs=threads)``."""
    common.skip_numpy_threads(backend, threads)
    data = common.clustered_data(dim=DIM)
    som = common.make_som(SIDE, SIDE, DIM, backend, dtype, threads, random_seed=1)
    if training == "random":
        som.train_random(data, RANDOM_STEPS)
    else:
        som.train_batch(data, BATCH_EPOCHS)
    first, second, d2 = common.brute_force_bmu(som.get_weights(), data)
    rows = np.abs(first // SIDE - second // SIDE)
    cols = np.abs(first % SIDE - second % SIDE)
    return float(np.mean(np.sqrt(d2))), float(np.mean((rows > 1) | (cols > 1)))


class Quality:
    """Quantization error (mean distance of each sample to its best-matching unit) of a 15x15
    map trained on 2,000 clustered samples (D=8) with ``MiniSam(random_seed=1)``:
    ``train_random`` for 5,000 steps or ``train_batch`` for 20 epochs. Same seed, data and
    schedule on every backend."""

    params = (common.BACKENDS, common.DTYPES, ["random", "batch"], common.THREADS)
    param_names = ["backend", "dtype", "training", "threads"]
    unit = "distance"
    timeout = 120

    def setup(self, backend, dtype, training, threads):
        self.qe, _ = _trained_metrics(backend, dtype, training, threads)

    def track_quantization_error(self, backend, dtype, training, threads):
        """Mean distance of each sample to its best-matching unit. Lower is better."""
        return self.qe


class Topography:
    """Topographic error (fraction of samples whose two best nodes are not adjacent) after the
    same trainings as Quality, float64."""

    params = (common.BACKENDS, ["random", "batch"], common.THREADS)
    param_names = ["backend", "training", "threads"]
    unit = "fraction"
    timeout = 120

    def setup(self, backend, training, threads):
        _, self.te = _trained_metrics(backend, "float64", training, threads)

    def track_topographic_error(self, backend, training, threads):
        """Fraction of samples whose two best nodes are not adjacent. Lower is better."""
        return self.te


class Agreement:
    """Largest absolute difference between a compiled backend's weights and the NumPy
    reference's after the same work: 200 steps of the online workload (40x40, D=64), or one
    batch epoch over 1,000 samples of the batch workload (50x50, D=64)."""

    params = (common.COMPILED_BACKENDS, common.DTYPES, ["online", "batch"], common.THREADS)
    param_names = ["backend", "dtype", "training", "threads"]
    unit = "abs difference"
    timeout = 120

    def setup(self, backend, dtype, training, threads):
        operation = "train_online" if training == "online" else "batch_epoch"
        self.backend = common.get_backend(backend, operation, threads=threads)
        self.numpy_backend = common.get_backend("numpy", operation, threads=threads)
        if training == "online":
            work = common.online()
            work.data = work.data.astype(dtype)
            work.weights = work.weights.astype(dtype)
            self.run = lambda b: work.train_online(b, 200)
        else:
            work = common.batch(dtype, 1000)
            self.run = work.batch_epoch

    def track_max_abs_diff_vs_numpy(self, backend, dtype, training, threads):
        """Largest absolute difference from the NumPy reference's weights. Lower is better."""
        ours = self.run(self.backend).astype(np.float64)
        reference = self.run(self.numpy_backend).astype(np.float64)
        return float(np.max(np.abs(ours - reference)))
