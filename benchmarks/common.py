"""Workloads and helpers shared by minisam's asv benchmarks.

Everything here is plain NumPy (no kernel runs at import). minisam is imported lazily, and
every use of an API that older commits lack is guarded: a benchmark whose backend or operation
does not exist at the commit under test raises ``NotImplementedError`` in ``setup``, which asv
records as skipped (``n/a``) instead of failed.

Thread count: a benchmark parameter, ``threads`` (``THREADS``: 1 and 2), the last parameter of
every benchmark that runs minisam's kernels, so the dashboard names it in every row and can
plot it as the x-axis. It is passed explicitly to the backend (``cls(threads)``,
``make_backend(name, threads)``) and to ``MiniSam(n_jobs=threads)``; ``$MINISAM_NUM_THREADS``
plays no part. A thread count above the CPUs the process may use, a second thread for a Cython
engine built without OpenMP, and a second thread for the NumPy backend (which ignores the
count: NumPy's BLAS picks its own threading, so it is measured once, under ``threads=1``) are
skipped (``n/a``) rather than measured under a label they do not have.

Lower is better for every recorded quantity (asv counts every increase as a regression):
times, memory, quality errors, and time fractions (``track_time_fraction_*``: a backend's time
divided by the baseline's on the same work, both timed in one process; 0.05 = 20 times faster).

The workloads are those of ``python -m minisam.bench`` (README "Performance"):

* challenge: Sam's 100x100 map, D=3, 10 colours, 1000 epochs in order (10,000 updates),
  float64, Sam's schedule (sigma0=50, alpha0=0.1, lam = epochs / ln sigma0);
* online: 40x40 map, D=64, 20,000 random-order updates, float64;
* batch: one epoch on a 50x50 map, N=100,000, D=64, float32 and float64;
* BMU search: N=200,000, D=64, K=2,500 nodes, float32 and float64.

The NumPy backend (the reference oracle, exact but slow by design) runs only reduced versions
of each workload (the ``*Reduced`` benchmarks, which the compiled backends run too): the
100-epoch challenge, the first 2,000 online steps, and N/20 samples for batch and BMU search.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import statistics
import time

import numpy as np

#: Backends the benchmarks are parametrised over (``auto`` only routes to one of these).
BACKENDS = ["numpy", "numba", "cython"]
#: Compiled backends only (time fractions of the NumPy backend's time).
COMPILED_BACKENDS = ["numba", "cython"]
DTYPES = ["float32", "float64"]
#: Threads given to minisam (the ``threads`` parameter); counts above the usable CPUs skip.
THREADS = [1, 2]

CHALLENGE_SIZE = 100
CHALLENGE_COLOURS = 10
CHALLENGE_EPOCHS = 1000
#: The reduced challenge: the same schedule shape over 100 epochs (1,000 updates).
CHALLENGE_EPOCHS_REDUCED = 100

ONLINE_SIDE = 40
ONLINE_DIM = 64
ONLINE_SAMPLES = 5000
ONLINE_STEPS = 20_000
#: The reduced online workload: the first 2,000 steps of the 20,000-step schedule.
ONLINE_STEPS_REDUCED = 2000

BATCH_SIDE = 50
BATCH_DIM = 64
BATCH_N = 100_000
BATCH_N_REDUCED = 5_000
#: Samples of the batch and BMU time fractions (both engines run them; the reference is slow).
FRACTION_N = 2_000
BATCH_ALPHA = 0.5
BATCH_SIGMA = 5.0

BMU_NODES = 2500
BMU_DIM = 64
BMU_N = 200_000
BMU_N_REDUCED = 10_000


def skip(reason: str):
    """Mark the current benchmark (parameter combination) as skipped."""
    raise NotImplementedError(reason)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(threads: int) -> int:
    """``threads``, or skip where this machine lets the process use fewer CPUs: two threads on
    one CPU would time the operating system's scheduler, not minisam's threading."""
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    cpus = usable_cpus()
    if threads > cpus:
        skip(f"{threads} threads need {threads} CPUs; this process may use {cpus}")
    return threads


def skip_numpy_threads(backend: str, threads: int) -> None:
    """Skip the NumPy backend above one thread: it ignores the count (NumPy's BLAS picks its
    own threading), so its ``threads=1`` result already is its only measurement."""
    if backend == "numpy" and int(threads) != 1:
        skip("the NumPy backend ignores the thread count; it is measured under threads=1")


def fraction_of(ours: float, baseline: float) -> float:
    """``ours / baseline`` (lower is better), to 4 significant digits (asv prints the value
    as given; the timings are not more precise)."""
    return float(f"{ours / baseline:.4g}")


#: Module and class of each backend (the same classes ``make_backend`` instantiates).
_BACKEND_CLASSES = {
    "numpy": ("minisam.backends.numpy_backend", "NumpyBackend"),
    "cython": ("minisam.backends.cython_backend", "CythonBackend"),
    "numba": ("minisam.backends.numba_backend", "NumbaBackend"),
}


def _backend_class(name: str):
    """The backend class ``name``, or ``None`` where it does not exist at this commit.

    Imported directly rather than through ``make_backend``/``available_backends``, which
    import every engine: a NumPy or Cython benchmark process then does not pay for importing
    Numba (about 0.8 s of start-up per process here).
    """
    module_name, class_name = _BACKEND_CLASSES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, class_name, None)


def _check_cython_threads(name: str, threads: int) -> None:
    if name != "cython" or threads == 1:
        return
    try:
        from minisam import _cython_kernels
    except ImportError:
        return
    openmp_enabled = getattr(_cython_kernels, "openmp_enabled", None)
    if openmp_enabled is not None and not openmp_enabled():
        skip(f"the Cython engine was built without OpenMP: it runs 1 thread, not {threads}")


def _defined_by_reference(cls, operation: str, reference_class) -> bool:
    """Whether ``cls`` takes ``operation`` from the NumPy reference class (or a subclass of it),
    rather than defining it itself or sharing the base class's generic version (the base
    ``Backend.batch_epoch`` runs each backend's own ``batch_sums``/``batch_update``)."""
    owner = next((klass for klass in cls.__mro__ if operation in vars(klass)), None)
    return owner is not None and owner is not cls and issubclass(owner, reference_class)


def get_backend(name: str, *operations: str, threads: int = 1):
    """A ``name`` backend with ``threads`` threads, or skip the benchmark.

    Skips when the backend does not exist at this commit, or when it lacks one of
    ``operations`` or only inherits it from the NumPy reference (the first commit's Cython
    backend compiled ``bmu_many`` only and ran everything else on the NumPy code, which the
    ``numpy`` parameter already measures), and when ``threads`` cannot be honoured (more than
    the usable CPUs, or a Cython engine without OpenMP).
    """
    threads = check_threads(threads)
    cls = _backend_class(name)
    if cls is None:
        skip(f"backend {name!r} is not available at this commit")
    reference_class = _backend_class("numpy")
    for operation in operations:
        method = getattr(cls, operation, None)
        if method is None or getattr(method, "__isabstractmethod__", False):
            skip(f"backend {name!r} has no {operation} at this commit")
        if name != "numpy" and reference_class is not None and _defined_by_reference(
                cls, operation, reference_class):
            skip(f"backend {name!r} runs {operation} on the NumPy reference at this commit")
    _check_cython_threads(name, threads)
    return cls(threads)


def make_som(x: int, y: int, input_len: int, backend: str, dtype: str, threads: int,
             **kwargs):
    """A ``MiniSam`` on ``backend``/``dtype`` with ``n_jobs=threads``, or skip.

    Keyword arguments the commit's ``MiniSam`` does not accept are dropped; a ``dtype`` other
    than float64 on a commit without that argument, or a commit without ``n_jobs``, skips the
    benchmark instead (its thread count would not be ``threads``).
    """
    threads = check_threads(threads)
    try:
        from minisam import MiniSam
    except ImportError:
        skip("minisam.MiniSam is not available at this commit")
    if _backend_class(backend) is None:
        skip(f"backend {backend!r} is not available at this commit")
    _check_cython_threads(backend, threads)
    accepted = inspect.signature(MiniSam).parameters
    if "backend" not in accepted:
        skip("MiniSam has no backend argument at this commit")
    if "n_jobs" not in accepted:
        skip("MiniSam has no n_jobs argument at this commit")
    options = dict(kwargs, backend=backend, dtype=np.dtype(dtype), n_jobs=threads)
    if "dtype" not in accepted and options["dtype"] != np.float64:
        skip(f"MiniSam has no dtype argument at this commit (asked for {dtype})")
    options = {key: value for key, value in options.items() if key in accepted}
    return MiniSam(x, y, input_len, **options)


# ----------------------------------------------------------------------------- schedules, grid
def grid_coords(x: int, y: int) -> np.ndarray:
    """float64 ``(x*y, 2)`` coordinates ``(k // y, k % y)`` of the nodes (row-major)."""
    k = np.arange(x * y)
    return np.column_stack([k // y, k % y]).astype(np.float64)


def decay(initial: float, steps: int, lam: float) -> np.ndarray:
    """``initial * exp(-t / lam)`` for ``t = 0 .. steps - 1`` (float64)."""
    return initial * np.exp(-np.arange(steps, dtype=np.float64) / lam)


def sam_schedule(epochs: int, n_samples: int, sigma0: float, alpha0: float = 0.1):
    """Sam's per-epoch schedule, each epoch's value repeated for its ``n_samples`` updates.

    ``lam = epochs / ln(sigma0)``; returns ``(order, alphas, sigmas)`` for ``train_online``
    (every sample in order, once per epoch).
    """
    lam = epochs / math.log(sigma0)
    order = np.tile(np.arange(n_samples, dtype=np.int64), epochs)
    alphas = np.repeat(decay(alpha0, epochs, lam), n_samples)
    sigmas = np.repeat(decay(sigma0, epochs, lam), n_samples)
    return order, alphas, sigmas


# ----------------------------------------------------------------------------- workloads
class Workload:
    """Arrays of one workload: ``weights`` (start, never modified), ``data``, ``coords`` and,
    for online training, ``order``/``alphas``/``sigmas``."""

    def __init__(self, **arrays) -> None:
        self.__dict__.update(arrays)

    def train_online(self, backend, steps: int | None = None, weights=None):
        """Run the first ``steps`` online steps on a copy of the start weights; return it."""
        steps = len(self.order) if steps is None else steps
        w = self.weights.copy() if weights is None else weights
        backend.train_online(w, self.data, self.order[:steps], self.alphas[:steps],
                             self.sigmas[:steps], self.coords, "gaussian")
        return w

    def batch_epoch(self, backend, rows: int | None = None, weights=None):
        """One batch epoch over the first ``rows`` samples on a copy of the start weights."""
        data = self.data if rows is None else self.data[:rows]
        w = self.weights.copy() if weights is None else weights
        backend.batch_epoch(w, data, BATCH_ALPHA, BATCH_SIGMA, self.coords, "gaussian")
        return w


def challenge(epochs: int = CHALLENGE_EPOCHS) -> Workload:
    """Sam's challenge: 10 random colours, 100x100 map, ``epochs`` epochs in order, float64."""
    rng = np.random.default_rng(0)
    colours = rng.random((CHALLENGE_COLOURS, 3))
    start = rng.random((CHALLENGE_SIZE * CHALLENGE_SIZE, 3))
    order, alphas, sigmas = sam_schedule(epochs, CHALLENGE_COLOURS, CHALLENGE_SIZE / 2, 0.1)
    return Workload(data=colours, weights=start, coords=grid_coords(CHALLENGE_SIZE,
                                                                    CHALLENGE_SIZE),
                    order=order, alphas=alphas, sigmas=sigmas)


def online() -> Workload:
    """40x40 map, D=64, 20,000 random-order steps over 5,000 samples, float64; sigma0 = 20,
    alpha0 = 0.5, decaying per step (lam = steps / ln sigma0)."""
    rng = np.random.default_rng(1)
    data = rng.random((ONLINE_SAMPLES, ONLINE_DIM))
    weights = rng.random((ONLINE_SIDE * ONLINE_SIDE, ONLINE_DIM))
    sigma0 = ONLINE_SIDE / 2
    lam = ONLINE_STEPS / math.log(sigma0)
    return Workload(data=data, weights=weights, coords=grid_coords(ONLINE_SIDE, ONLINE_SIDE),
                    order=rng.integers(0, ONLINE_SAMPLES, ONLINE_STEPS).astype(np.int64),
                    alphas=decay(0.5, ONLINE_STEPS, lam), sigmas=decay(sigma0, ONLINE_STEPS, lam))


def batch(dtype: str, n: int = BATCH_N) -> Workload:
    """One batch epoch: 50x50 map, ``n`` samples of D=64 in ``dtype``."""
    rng = np.random.default_rng(2)
    data = rng.random((n, BATCH_DIM), dtype=np.dtype(dtype).type)
    weights = rng.random((BATCH_SIDE * BATCH_SIDE, BATCH_DIM), dtype=np.dtype(dtype).type)
    return Workload(data=data, weights=weights, coords=grid_coords(BATCH_SIDE, BATCH_SIDE))


def bmu(dtype: str, n: int = BMU_N) -> Workload:
    """BMU search: ``n`` samples of D=64 against K=2,500 nodes, in ``dtype``."""
    rng = np.random.default_rng(4)
    data = rng.random((n, BMU_DIM), dtype=np.dtype(dtype).type)
    weights = rng.random((BMU_NODES, BMU_DIM), dtype=np.dtype(dtype).type)
    return Workload(data=data, weights=weights)


def clustered_data(n: int = 2000, dim: int = 8, clusters: int = 8, seed: int = 7):
    """``n`` samples of ``dim`` features around ``clusters`` centres (for quality tracks)."""
    rng = np.random.default_rng(seed)
    centres = rng.random((clusters, dim))
    labels = rng.integers(0, clusters, n)
    return centres[labels] + 0.05 * rng.standard_normal((n, dim))


# ----------------------------------------------------------------------------- measuring
def timed(run) -> float:
    """Wall-clock seconds of one call of ``run()``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interleaved_medians(runs: dict, rounds: int = 5) -> dict:
    """Median seconds of each callable in ``runs``, timed in ``rounds`` interleaved rounds
    (so a slow moment of the machine hits every one of them alike)."""
    times: dict = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(timed(run))
    return {name: statistics.median(values) for name, values in times.items()}


def _proc_status(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def extra_peak_bytes(run) -> int:
    """Rise of the process's peak resident set during ``run()`` above what was resident
    before (Linux: resets the peak through ``/proc/self/clear_refs``). Skips elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak resident set size (VmHWM)
        before = _proc_status("VmRSS")
    except OSError:
        skip("needs Linux /proc/self/clear_refs")
    run()
    return max(0, _proc_status("VmHWM") - before)


def brute_force_bmu(weights: np.ndarray, data: np.ndarray):
    """Indices of the best and second-best node and the best squared distance of every sample,
    in float64 with plain NumPy: independent of minisam's kernels."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1, data.shape[-1])
    x = np.asarray(data, dtype=np.float64)
    d2 = ((x[:, None, :] - w[None, :, :]) ** 2).sum(axis=2)
    order = np.argsort(d2, axis=1, kind="stable")[:, :2]
    best = d2[np.arange(len(x)), order[:, 0]]
    return order[:, 0], order[:, 1], best
