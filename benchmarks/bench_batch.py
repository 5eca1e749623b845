"""Batch training: one epoch on a 50x50 map, N=100,000, D=64, float32 and float64
(``batch_epoch`` with alpha = 0.5, sigma = 5, gaussian), on 1 and 2 threads."""

from __future__ import annotations

from . import common


class BatchEpoch:
    """Time of one batch epoch over N=100,000 samples (compiled backends)."""

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300
    n_samples = common.BATCH_N

    def setup(self, backend, dtype, threads):
        common.skip_numpy_threads(backend, threads)
        self.backend = common.get_backend(backend, "batch_epoch", threads=threads)
        self.work = common.batch(dtype, self.n_samples)
        self.work.batch_epoch(self.backend, rows=512)  # compile / warm up

    def time_epoch(self, backend, dtype, threads):
        self.work.batch_epoch(self.backend)


class BatchEpochReduced(BatchEpoch):
    """One batch epoch over the first N/20 = 5,000 samples, every backend."""

    params = (common.BACKENDS, common.DTYPES, common.THREADS)
    #: Short calls (10-100 ms; NumPy's 1-2 s): more samples; reruns with 3 samples differed by
    #: up to 30 % on a 2-core VM; 15 s caps the NumPy reference's.
    repeat = (6, 30, 15.0)
    n_samples = common.BATCH_N_REDUCED


class BatchTimeFraction:
    """A compiled backend's time as a fraction of the NumPy backend's on an epoch over the first
    2,000 samples (0.05 = 20 times faster), both timed in this process in interleaved rounds
    (median of 5)."""

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    unit = "time fraction"
    timeout = 300

    def setup(self, backend, dtype, threads):
        self.backend = common.get_backend(backend, "batch_epoch", threads=threads)
        self.numpy_backend = common.get_backend("numpy", "batch_epoch", threads=threads)
        self.work = common.batch(dtype, common.FRACTION_N)
        self.work.batch_epoch(self.backend, rows=512)  # compile / warm up

    def track_time_fraction_of_numpy(self, backend, dtype, threads):
        """Backend's time / the NumPy backend's time on the same epoch. Lower is better."""
        medians = common.interleaved_medians({
            "numpy": lambda: self.work.batch_epoch(self.numpy_backend),
            "backend": lambda: self.work.batch_epoch(self.backend)})
        return common.fraction_of(medians["backend"], medians["numpy"])


class BatchEpochMemory:
    """Memory of one batch epoch over N=100,000 samples (compiled backends).

    ``peakmem_epoch``: peak resident set of the whole benchmark process (interpreter, libraries
    and the 25-51 MB of data included). ``track_extra_bytes``: rise of the peak resident set
    during the epoch above what was resident before it (Linux only): the kernels' own buffers.
    """

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    unit = "bytes"
    timeout = 300

    def setup(self, backend, dtype, threads):
        self.backend = common.get_backend(backend, "batch_epoch", threads=threads)
        self.work = common.batch(dtype, common.BATCH_N)
        self.weights = self.work.weights.copy()
        self.work.batch_epoch(self.backend, rows=512)  # compile / warm up

    def peakmem_epoch(self, backend, dtype, threads):
        self.work.batch_epoch(self.backend, weights=self.weights)

    def track_extra_bytes(self, backend, dtype, threads):
        """Rise of the peak resident set during the epoch, in bytes. Lower is better."""
        return common.extra_peak_bytes(
            lambda: self.work.batch_epoch(self.backend, weights=self.weights))
