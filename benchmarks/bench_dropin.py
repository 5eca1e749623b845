"""The MiniSom drop-in's other paths (issue 16), on 1 and 2 threads:

* ``train_random`` with the cosine, Manhattan and Chebyshev activation distances, beside the
  Euclidean one: 40x40 map, D=64, 2,000 random-order steps, float64 (the drop-in always is);
* ``train_batch_offline`` at learning rates 0.5 and 1.0 (where near ties of the fast winner
  search are many): 16,000 x 300 samples, 25x15 map, 3 iterations;
* small winner searches and batch epochs, which stay on one thread below
  ``minisam.backends.compiled.SEARCH_PARALLEL_MIN_WORK``: N=2,000, K=400, D=16.

Data are made in ``setup``; minisam is imported there too (module import stays cheap).
"""

from __future__ import annotations

import numpy as np

from . import common


def _minisom(*args, **kwargs):
    try:
        from minisam import MiniSom
    except ImportError:
        common.skip("minisam.MiniSom is not in this commit")
    return MiniSom(*args, **kwargs)


class DropInDistances:
    """Time of ``MiniSom.train_random`` for 2,000 steps with each activation distance."""

    params = (["euclidean", "cosine", "manhattan", "chebyshev"], common.THREADS)
    param_names = ["distance", "threads"]
    number = 1
    repeat = (5, 20, 20.0)
    warmup_time = 0
    timeout = 300

    def setup(self, distance, threads):
        threads = common.check_threads(threads)
        rng = np.random.default_rng(0)
        self.data = rng.random((1000, common.ONLINE_DIM))
        self.som = _minisom(common.ONLINE_SIDE, common.ONLINE_SIDE, common.ONLINE_DIM,
                            sigma=3, activation_distance=distance, random_seed=1,
                            n_jobs=threads)
        self.start = self.som.get_weights().copy()
        self.som.train_random(self.data, 20)  # compile / warm up

    def time_train_random(self, distance, threads):
        self.som._weights[...] = self.start
        self.som.train_random(self.data, 2000)


class DropInBatchLearningRate:
    """Time of ``MiniSom.train_batch_offline`` (3 iterations) at learning rates 0.5 and 1."""

    params = ([0.5, 1.0], common.THREADS)
    param_names = ["learning_rate", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300

    def setup(self, learning_rate, threads):
        threads = common.check_threads(threads)
        rng = np.random.default_rng(0)
        self.data = rng.random((16_000, 300))
        self.som = _minisom(25, 15, 300, sigma=3, learning_rate=learning_rate,
                            random_seed=1, n_jobs=threads)
        self.start = self.som.get_weights().copy()
        self.som.train_batch_offline(self.data[:500], 1)  # compile / warm up

    def time_train_batch_offline(self, learning_rate, threads):
        self.som._weights[...] = self.start
        self.som.train_batch_offline(self.data, 3)


class SmallSearch:
    """Small work (N=2,000, K=400, D=16, float64): a winner search and a batch epoch, which
    must not be slower on 2 threads than on 1."""

    params = (common.COMPILED_BACKENDS, common.THREADS)
    param_names = ["backend", "threads"]
    number = 5
    repeat = (5, 30, 10.0)
    warmup_time = 0
    timeout = 120

    def setup(self, backend, threads):
        self.backend = common.get_backend(backend, "bmu_many", "batch_epoch", threads=threads)
        rng = np.random.default_rng(0)
        self.weights = rng.random((400, 16))
        self.data = rng.random((2000, 16))
        self.sums = np.zeros((400, 16))
        self.counts = np.zeros(400)
        self.backend.bmu_many(self.weights, self.data)  # compile / warm up

    def time_bmu_many(self, backend, threads):
        self.backend.bmu_many(self.weights, self.data)

    def time_batch_sums(self, backend, threads):
        self.backend.batch_sums(self.weights, self.data, self.sums, self.counts)
