"""Dask: one ``MiniSam.train_batch`` epoch on a 50x50 map, N=100,000, D=64, as a Dask array of
ten 10,000-row chunks on the threaded scheduler with ``threads`` workers, and its time as a
fraction of the same epoch on the NumPy array. ``python -m minisam.bench --only dask``
measures the full-size targets (2,000,000 rows, a LocalCluster, Zarr out of core)."""

from __future__ import annotations

import numpy as np

from . import common

CHUNK_ROWS = 10_000


class DaskBatchEpoch:
    """Time of one batch epoch on a Dask array (threaded scheduler)."""

    params = (common.DTYPES, common.THREADS)
    param_names = ["dtype", "threads"]
    number = 1
    repeat = (6, 20, 40.0)  # 3 samples varied by up to 45 % between reruns
    warmup_time = 0
    timeout = 300

    def setup(self, dtype, threads):
        threads = common.check_threads(threads)
        try:
            import dask
            import dask.array as da

            from minisam import MiniSam
            from minisam import dask as minisam_dask  # noqa: F401  (skip where it is missing)
        except ImportError as exc:
            common.skip(f"Dask or minisam.dask is not available: {exc}")
        rng = np.random.default_rng(9)
        self.data = rng.random((common.BATCH_N, common.BATCH_DIM)).astype(dtype)
        self.array = da.from_array(self.data, chunks=(CHUNK_ROWS, common.BATCH_DIM))
        self.config = dask.config.set(scheduler="threads", num_workers=threads)
        self.som = MiniSam(common.BATCH_SIDE, common.BATCH_SIDE, common.BATCH_DIM,
                           dtype=np.dtype(dtype), random_seed=0, n_jobs=threads)
        with self.config:
            self.som.train_batch(self.array[:2 * CHUNK_ROWS], 1)  # warm up

    def _dask_epoch(self):
        with self.config:
            self.som.train_batch(self.array, 1)

    def time_epoch(self, dtype, threads):
        self._dask_epoch()

    def track_time_fraction_of_in_memory(self, dtype, threads):
        """Dask epoch time / in-memory epoch time, interleaved rounds (1 = as fast as in
        memory). Lower is better."""
        medians = common.interleaved_medians({
            "memory": lambda: self.som.train_batch(self.data, 1), "dask": self._dask_epoch})
        return common.fraction_of(medians["dask"], medians["memory"])

    track_time_fraction_of_in_memory.unit = "time fraction"
