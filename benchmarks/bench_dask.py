"""Dask: one ``MiniSam.train_batch`` epoch on a 50x50 map, N=100,000, D=64, as a Dask array of
ten 10,000-row chunks on the threaded scheduler (``MINISAM_NUM_THREADS`` threads), and its
speed relative to the same epoch on the NumPy array. ``python -m minisam.bench --only dask``
measures the full-size targets (2,000,000 rows, a LocalCluster, Zarr out of core)."""

from __future__ import annotations

import numpy as np

from . import common

CHUNK_ROWS = 10_000


class DaskBatchEpoch:
    """Time of one batch epoch on a Dask array (threaded scheduler)."""

    params = common.DTYPES
    param_names = ["dtype"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300

    def setup(self, dtype):
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
        self.config = dask.config.set(scheduler="threads", num_workers=common.n_threads())
        self.som = MiniSam(common.BATCH_SIDE, common.BATCH_SIDE, common.BATCH_DIM,
                           dtype=np.dtype(dtype), random_seed=0)
        with self.config:
            self.som.train_batch(self.array[:2 * CHUNK_ROWS], 1)  # warm up

    def time_epoch(self, dtype):
        with self.config:
            self.som.train_batch(self.array, 1)

    def track_speedup_dask_vs_in_memory(self, dtype):
        """In-memory epoch time / Dask epoch time (1 = as fast as in memory)."""
        def dask_epoch():
            with self.config:
                self.som.train_batch(self.array, 1)

        medians = common.interleaved_medians({
            "memory": lambda: self.som.train_batch(self.data, 1), "dask": dask_epoch})
        return medians["memory"] / medians["dask"]

    track_speedup_dask_vs_in_memory.unit = "ratio"
