"""Best-matching-unit search: N=200,000 samples, D=64, K=2,500 nodes, float32 and float64
(``bmu_many``), on 1 and 2 threads."""

from __future__ import annotations

from . import common


class BMUSearch:
    """Time of ``bmu_many`` over N=200,000 samples (compiled backends)."""

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300
    n_samples = common.BMU_N

    def setup(self, backend, dtype, threads):
        common.skip_numpy_threads(backend, threads)
        self.backend = common.get_backend(backend, "bmu_many", threads=threads)
        self.work = common.bmu(dtype, self.n_samples)
        self.backend.bmu_many(self.work.weights, self.work.data[:256])  # compile / warm up

    def time_bmu_many(self, backend, dtype, threads):
        self.backend.bmu_many(self.work.weights, self.work.data)


class BMUSearchReduced(BMUSearch):
    """``bmu_many`` over the first N/20 = 10,000 samples, every backend."""

    params = (common.BACKENDS, common.DTYPES, common.THREADS)
    #: Short calls (10-100 ms; NumPy's 1-2 s): more samples; reruns with 3 samples differed by
    #: up to 30 % on a 2-core VM; 15 s caps the NumPy reference's.
    repeat = (6, 30, 15.0)
    n_samples = common.BMU_N_REDUCED


class BMUTimeFraction:
    """A compiled backend's time as a fraction of the NumPy backend's on 2,000 samples
    (0.05 = 20 times faster), both timed in this process in interleaved rounds (median of 5)."""

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    unit = "time fraction"
    timeout = 300

    def setup(self, backend, dtype, threads):
        self.backend = common.get_backend(backend, "bmu_many", threads=threads)
        self.numpy_backend = common.get_backend("numpy", "bmu_many", threads=threads)
        self.work = common.bmu(dtype, common.FRACTION_N)
        self.backend.bmu_many(self.work.weights, self.work.data[:256])  # compile / warm up

    def track_time_fraction_of_numpy(self, backend, dtype, threads):
        """Backend's time / the NumPy backend's time on the same search. Lower is better."""
        w, x = self.work.weights, self.work.data
        medians = common.interleaved_medians({
            "numpy": lambda: self.numpy_backend.bmu_many(w, x),
            "backend": lambda: self.backend.bmu_many(w, x)})
        return common.fraction_of(medians["backend"], medians["numpy"])


class BMUSearchMemory:
    """Memory of ``bmu_many`` over N=200,000 samples (compiled backends).

    ``peakmem_bmu_many``: peak resident set of the whole benchmark process (interpreter,
    libraries and the 51-102 MB of data included). ``track_extra_bytes``: rise of the peak
    resident set during the search above what was resident before it (Linux only): the
    outputs (index and distance, 2.4-3.2 MB) plus the kernels' buffers (an N x K distance
    matrix would add 2-4 GB).
    """

    params = (common.COMPILED_BACKENDS, common.DTYPES, common.THREADS)
    param_names = ["backend", "dtype", "threads"]
    unit = "bytes"
    timeout = 300

    def setup(self, backend, dtype, threads):
        self.backend = common.get_backend(backend, "bmu_many", threads=threads)
        self.work = common.bmu(dtype, common.BMU_N)
        self.backend.bmu_many(self.work.weights, self.work.data[:256])  # compile / warm up

    def peakmem_bmu_many(self, backend, dtype, threads):
        self.backend.bmu_many(self.work.weights, self.work.data)

    def track_extra_bytes(self, backend, dtype, threads):
        """Rise of the peak resident set during the search, in bytes. Lower is better."""
        return common.extra_peak_bytes(
            lambda: self.backend.bmu_many(self.work.weights, self.work.data))
