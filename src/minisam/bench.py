"""Benchmark minisam's backends on the reference workloads and print the ratios.

    python -m minisam.bench              # every workload (about 2-3 minutes on 2 cores)
    python -m minisam.bench --quick      # smaller repeat counts, for a smoke test
    python -m minisam.bench --only dask  # Dask targets (needs minisam[dask], 2.4 GiB of disk)
    python -m minisam.bench --only estimator  # SelfOrganizingMap defaults vs MiniSom (~2 min)
    python -m minisam.bench --peers      # other SOM libraries that are installed, same workloads

Each timing is the median of several runs in this process, so ratios compare like with like on
the same machine at the same moment. Slow baselines (Sam's triple loop, the NumPy backend on the
large workloads) are timed on a stated fraction of the workload and scaled linearly; the table
says so. Peak memory of the BMU search is measured in a fresh subprocess per backend, as the
rise of the process's peak resident set over the data already loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from minisam import kohonen, openmp_enabled, reference
from minisam._schedules import decay_time_constant, exponential_schedule
from minisam.backends import available_backends, default_n_threads, make_backend
from minisam.topology import Topology

__all__ = ["main"]


def _median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sam_schedule(epochs: int, n_samples: int, sigma0: float, alpha0: float):
    lam = decay_time_constant(epochs, sigma0)
    alphas = np.repeat(exponential_schedule(alpha0, epochs, lam), n_samples)
    sigmas = np.repeat(exponential_schedule(sigma0, epochs, lam), n_samples)
    return alphas, sigmas


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, workload: str, backend: str, value: str, note: str = "") -> None:
        self.rows.append((workload, backend, value, note))
        print(f"  {backend:<10} {value:>16}  {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| workload | backend | median | note |", "|---|---|---|---|"]
        lines += [f"| {w} | {b} | {v} | {n} |" for w, b, v, n in self.rows]
        return "\n".join(lines)


def bench_challenge(table, backends, repeats, quick):
    """Sam's challenge: 100x100 map, 3-d, 10 colours, 1000 epochs in order, float64."""
    size, epochs, sam_epochs = 100, 1000, (1 if quick else 5)
    print(f"challenge: {size}x{size} map, D=3, 10 colours, {epochs} epochs "
          f"({epochs * 10} updates), float64", flush=True)
    rng = np.random.default_rng(0)
    colours = rng.random((10, 3))
    start_weights = rng.random((size, size, 3))
    # Sam's loop on a few epochs, scaled: same per-update cost throughout (no skipping).
    sam = _median_time(lambda: kohonen.train(colours, sam_epochs, size, size,
                                             initial_weights=start_weights), 1)
    sam_full = sam * epochs / sam_epochs
    table.add("challenge", "kohonen.py", f"{sam_full:.1f} s",
              f"{sam_epochs} epochs timed, x{epochs // sam_epochs}")
    coords = reference.grid_coordinates(size, size)
    alphas, sigmas = _sam_schedule(epochs, 10, size / 2, 0.1)
    order = np.tile(np.arange(10), epochs)
    flat = start_weights.reshape(-1, 3)
    results = {}
    for name, backend in backends.items():
        backend.train_online(flat.copy(), colours, order[:10], alphas[:10], sigmas[:10],
                             coords, "gaussian")  # compile / warm up
        reps = 1 if name == "numpy" else repeats
        seconds = _median_time(lambda b=backend: b.train_online(
            flat.copy(), colours, order, alphas, sigmas, coords, "gaussian"), reps)
        results[name] = seconds
    for name, seconds in results.items():
        note = f"{sam_full / seconds:,.0f}x kohonen.py"
        if name != "numpy" and "numpy" in results:
            note += f", {results['numpy'] / seconds:,.0f}x numpy"
        table.add("challenge", name, f"{seconds * 1e3:.1f} ms", note)
    return {"kohonen": sam_full, **results}


def _asymptotic_schedule(initial: float, steps: int) -> np.ndarray:
    """MiniSom's default decay: ``initial / (1 + t / (steps / 2))``."""
    return initial / (1.0 + np.arange(steps, dtype=np.float64) / (steps / 2))


def bench_online(table, backends, repeats, quick):
    """Online training: 40x40 map, D=64, 20,000 random-order updates, float64.

    Two schedules: MiniSam's (sigma from max(x, y)/2 = 20 down to 1: wide neighbourhoods, most
    nodes move) and MiniSom's defaults (sigma 1, learning rate 0.5, asymptotic decay), the
    workload behind MiniSom's 271 us/update.
    """
    side, dim, steps = 40, 64, 20_000
    rng = np.random.default_rng(1)
    data = rng.random((5000, dim))
    weights = rng.random((side * side, dim))
    coords = reference.grid_coordinates(side, side)
    order = rng.integers(0, data.shape[0], steps)
    lam = decay_time_constant(steps, side / 2)
    schedules = {
        "MiniSam schedule": (exponential_schedule(0.5, steps, lam),
                             exponential_schedule(side / 2, steps, lam)),
        "MiniSom defaults": (_asymptotic_schedule(0.5, steps), _asymptotic_schedule(1.0, steps)),
    }
    results = {}
    for label, (alphas, sigmas) in schedules.items():
        print(f"online ({label}): {side}x{side} map, D={dim}, {steps} random-order updates, "
              "float64", flush=True)
        per_update = {}
        for name, backend in backends.items():
            n = 1000 if name == "numpy" else steps
            backend.train_online(weights.copy(), data, order[:5], alphas[:5], sigmas[:5],
                                 coords, "gaussian")
            seconds = _median_time(lambda b=backend, n=n, a=alphas, s=sigmas: b.train_online(
                weights.copy(), data, order[:n], a[:n], s[:n], coords, "gaussian"),
                1 if name == "numpy" else repeats)
            per_update[name] = seconds / n
        for name, value in per_update.items():
            note = "first 1,000 updates timed" if name == "numpy" else ""
            if name != "numpy" and "numpy" in per_update:
                note = f"{per_update['numpy'] / value:,.0f}x numpy"
            table.add(f"online, {label}", name, f"{value * 1e6:.2f} us/update", note)
        results[label] = per_update
    return results


def bench_batch(table, backends, repeats, quick):
    """One batch epoch: 50x50 map, N=100,000, D=64, float32 and float64."""
    side, n, dim = 50, 100_000, 64
    print(f"batch: {side}x{side} map, N={n}, D={dim}, one epoch", flush=True)
    rng = np.random.default_rng(2)
    coords = reference.grid_coordinates(side, side)
    results = {}
    for dtype in (np.float32, np.float64):
        data = rng.random((n, dim)).astype(dtype)
        weights = rng.random((side * side, dim)).astype(dtype)
        for name, backend in backends.items():
            rows = n // 20 if name == "numpy" else n
            backend.batch_epoch(weights.copy(), data[:512], 0.5, 5.0, coords, "gaussian")
            seconds = _median_time(lambda b=backend, w=weights, x=data[:rows]: b.batch_epoch(
                w.copy(), x, 0.5, 5.0, coords, "gaussian"),
                1 if name == "numpy" else repeats) * n / rows
            results[(np.dtype(dtype).name, name)] = seconds
            note = f"N={rows} timed, scaled" if rows != n else ""
            table.add(f"batch {np.dtype(dtype).name}", name, f"{seconds:.3f} s/epoch", note)
    return results


#: The map geometries compared by :func:`bench_topology`: (label, lattice, toroidal).
TOPOLOGY_CASES = (("rectangular", "rectangular", False), ("toroidal", "rectangular", True),
                  ("hexagonal", "hexagonal", False), ("hexagonal toroidal", "hexagonal", True))


def _interleaved_medians(runs: dict, repeats: int) -> dict:
    """Median time of each run, the runs taken in turn (round-robin), so that a slow spell of
    the machine hits them all alike and their ratios stay fair."""
    times = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def bench_topology(table, backends, repeats, quick):
    """Hexagonal and toroidal maps against the rectangular planar one, per compiled engine:
    online 40x40, D=64, 20,000 steps (float64, MiniSam's schedule) and one batch epoch
    50x50, N=100,000, D=64 (float32). The NumPy reference is left out (minutes per run)."""
    rng = np.random.default_rng(6)
    side, dim, steps = 40, 64, 20_000
    data = rng.random((5000, dim))
    weights = rng.random((side * side, dim))
    order = rng.integers(0, data.shape[0], steps)
    lam = decay_time_constant(steps, side / 2)
    alphas = exponential_schedule(0.5, steps, lam)
    sigmas = exponential_schedule(side / 2, steps, lam)
    bside, n = 50, 100_000
    bdata = rng.random((n, dim)).astype(np.float32)
    bweights = rng.random((bside * bside, dim)).astype(np.float32)
    results = {}
    for name, backend in backends.items():
        if name == "numpy":
            continue
        online, batch = {}, {}
        for label, lattice, toroidal in TOPOLOGY_CASES:
            grid = Topology(side, side, lattice, toroidal)
            periods = grid.periods
            backend.train_online(weights.copy(), data, order[:5], alphas[:5], sigmas[:5],
                                 grid.coords, "gaussian", periods)  # compile / warm up
            online[label] = lambda b=backend, g=grid, p=periods: b.train_online(
                weights.copy(), data, order, alphas, sigmas, g.coords, "gaussian", p)
            bgrid = Topology(bside, bside, lattice, toroidal)
            bperiods = bgrid.periods
            backend.batch_epoch(bweights.copy(), bdata[:512], 0.5, 5.0, bgrid.coords,
                                "gaussian", bperiods)
            batch[label] = lambda b=backend, g=bgrid, p=bperiods: b.batch_epoch(
                bweights.copy(), bdata, 0.5, 5.0, g.coords, "gaussian", p)
        for workload, runs, unit, scale in (
                (f"topology online {side}x{side} D={dim} f64", online, "us/update",
                 1e6 / steps),
                (f"topology batch {bside}x{bside} N={n} f32", batch, "s/epoch", 1.0)):
            print(f"{workload} ({name}, runs interleaved)", flush=True)
            medians = _interleaved_medians(runs, repeats)
            base = medians["rectangular"]
            for label, seconds in medians.items():
                table.add(f"{workload}, {label}", name, f"{seconds * scale:.3f} {unit}",
                          f"{seconds / base:.2f}x rectangular planar")
                results[(workload, name, label)] = seconds
    return results


def _matmul_gflops(dtype, repeats) -> float:
    rng = np.random.default_rng(3)
    x = rng.random((100_000, 64)).astype(dtype)  # the roofline workload of ENGINEERING.md
    w = rng.random((2500, 64)).astype(dtype)
    x @ w.T
    seconds = _median_time(lambda: x @ w.T, repeats)
    return 2 * x.shape[0] * w.shape[0] * x.shape[1] / seconds / 1e9


def bench_bmu(table, backends, repeats, quick):
    """BMU search: N=200,000, D=64, K=2,500 (a 50x50 map)."""
    n, dim, nodes = 200_000, 64, 2500
    print(f"BMU search: N={n}, D={dim}, K={nodes}", flush=True)
    rng = np.random.default_rng(4)
    results = {}
    for dtype in (np.float32, np.float64):
        name_t = np.dtype(dtype).name
        data = rng.random((n, dim)).astype(dtype)
        weights = rng.random((nodes, dim)).astype(dtype)
        roofline = _matmul_gflops(dtype, repeats)
        table.add(f"BMU {name_t}", "matmul", f"{roofline:.1f} GFLOP/s",
                  "numpy (100000x64)@(64x2500), the roofline")
        for name, backend in backends.items():
            rows = n // 20 if name == "numpy" else n
            backend.bmu_many(weights, data[:256])
            seconds = _median_time(lambda b=backend, w=weights, x=data[:rows]: b.bmu_many(w, x),
                                   1 if name == "numpy" else repeats) * n / rows
            gflops = 2 * n * nodes * dim / seconds / 1e9
            results[(name_t, name)] = n / seconds
            note = f"{gflops:.1f} GFLOP/s = {100 * gflops / roofline:.0f}% of matmul"
            if rows != n:
                note += f"; N={rows} timed, scaled"
            table.add(f"BMU {name_t}", name, f"{n / seconds / 1e6:.3f} M samples/s", note)
    return results


_PEAK_SCRIPT = """
import json, sys, numpy as np
from minisam.backends import make_backend
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
backend = make_backend(sys.argv[1], int(sys.argv[2]))
rng = np.random.default_rng(5)
data = rng.random((200_000, 64)).astype(sys.argv[3])
weights = rng.random((2500, 64)).astype(sys.argv[3])
backend.bmu_many(weights, data[:64])  # compile and load everything first
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak resident set
before = status('VmRSS')
index, d2 = backend.bmu_many(weights, data)
print(json.dumps(status('VmHWM') - before))
"""


def bench_peak_memory(table, names, n_threads):
    """Extra memory of a BMU search over 200,000 x 64 samples, per backend (Linux only)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return {}
    print("BMU search peak memory (N=200,000, D=64, K=2,500), fresh process each", flush=True)
    results = {}
    for dtype in ("float32", "float64"):
        for name in names:
            if name == "numpy":
                continue  # the oracle's block size is a fixed 16 MiB budget; not a fast path
            out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, name, str(n_threads),
                                  dtype], capture_output=True, text=True, check=True)
            extra = json.loads(out.stdout.strip().splitlines()[-1])
            results[(dtype, name)] = extra
            table.add(f"BMU peak memory {dtype}", name, f"{extra / 2**20:.1f} MiB",
                      "outputs (index + distance) included")
    return results


_ZARR_EPOCH_SCRIPT = """
import json, sys, time
import dask.array as da
import numpy as np
from minisam import MiniSam

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

x = da.from_zarr(sys.argv[1])
som = MiniSam(50, 50, x.shape[1], dtype=np.float32, random_seed=0)
som.train_batch(x[:100_000], 1)  # imports and kernels first
before = status('VmRSS')
start = time.perf_counter()
som.train_batch(x, 1)
print(json.dumps({"seconds": time.perf_counter() - start, "before": before,
                  "peak": status('VmHWM')}))
"""


def _zarr_array(path: str, shape, chunks, dtype):
    """An empty uncompressed Zarr array on disk (zarr 2 or 3: Python 3.10 gets zarr 2)."""
    import zarr

    if int(zarr.__version__.split(".")[0]) >= 3:
        return zarr.create_array(store=path, shape=shape, chunks=chunks, dtype=dtype,
                                 compressors=None)
    return zarr.open_array(path, mode="w", shape=shape, chunks=chunks, dtype=dtype,
                           compressor=None)


def bench_dask(table, repeats, quick):
    """Dask: one batch epoch of a 50x50 map on N x 64 float32 samples in 100,000-row chunks
    (N = 2,000,000): in memory, as a Dask array on the threaded scheduler and on
    ``LocalCluster(n_workers=2, threads_per_worker=1)`` (data persisted on the workers),
    runs interleaved; then one epoch out of core on 10,000,000 x 64 float32 in Zarr on local
    disk, in a fresh process, with its peak resident set."""
    try:
        import dask
        import dask.array as da
        import distributed
        import zarr  # noqa: F401  (the out-of-core part needs it)
    except ImportError as exc:
        print(f"dask: skipped ({exc}; pip install 'minisam[dask]')", flush=True)
        return {}
    import logging
    import tempfile

    from minisam import MiniSam

    n, dim, side, rows = (400_000 if quick else 2_000_000), 64, 50, 100_000
    print(f"dask: {side}x{side} map, N={n}, D={dim}, float32, {rows}-row chunks, one epoch",
          flush=True)
    lazy = da.random.default_rng(7).random((n, dim), dtype=np.float32, chunks=(rows, dim))
    with dask.config.set(scheduler="threads"):
        data = lazy.compute()
    threaded = da.from_array(data, chunks=(rows, dim))

    def epoch(x, scheduler=None):
        def run():
            som = MiniSam(side, side, dim, dtype=np.float32, random_seed=0)
            if scheduler is None:
                som.train_batch(x, 1)
            else:
                with scheduler():
                    som.train_batch(x, 1)
        return run

    results = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        on_cluster = client.persist(lazy)
        with client.as_current():
            distributed.wait(on_cluster)
        runs = {"in memory": epoch(data),
                "threaded": epoch(threaded, lambda: dask.config.set(scheduler="threads")),
                "LocalCluster(2, 1)": epoch(on_cluster, client.as_current)}
        for run in runs.values():  # warm up: kernels, worker imports
            run()
        medians = _interleaved_medians(runs, repeats)
    base = n / medians["in memory"]
    for label, seconds in medians.items():
        rate = n / seconds
        results[label] = rate
        note = "" if label == "in memory" else f"{100 * rate / base:.0f}% of in memory"
        table.add(f"dask batch f32 N={n}", label, f"{rate / 1e6:.3f} M samples/s", note)
    if not os.path.exists("/proc/self/status"):
        return results
    big = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="minisam-bench-") as tmp:
        path = os.path.join(tmp, "data.zarr")
        store = _zarr_array(path, (big, dim), (rows, dim), "float32")
        rng = np.random.default_rng(8)
        for start in range(0, big, 500_000):
            store[start:start + 500_000] = rng.random((min(500_000, big - start), dim),
                                                      dtype=np.float32)
        del rng
        out = subprocess.run([sys.executable, "-c", _ZARR_EPOCH_SCRIPT, path],
                             capture_output=True, text=True, check=True)
    zarr_run = json.loads(out.stdout.strip().splitlines()[-1])
    rate = big / zarr_run["seconds"]
    results["zarr"] = rate
    results["zarr peak"] = zarr_run["peak"]
    gib = big * dim * 4 / 2**30
    table.add(f"dask out of core f32 N={big} ({gib:.2f} GiB Zarr)", "threaded",
              f"{rate / 1e6:.3f} M samples/s",
              f"{100 * rate / base:.0f}% of in memory (N={n}); peak RSS "
              f"{zarr_run['peak'] / 2**20:.0f} MiB (before the epoch "
              f"{zarr_run['before'] / 2**20:.0f} MiB)")
    return results


_MASKED_PEAK_SCRIPT = """
import json, sys, numpy as np
from minisam import _missing
from minisam.backends import make_backend
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
backend = make_backend(sys.argv[1], int(sys.argv[2]))
rng = np.random.default_rng(5)
data = rng.random((200_000, 64)).astype(np.float32)
data[rng.random(data.shape) < 0.1] = np.nan
weights = rng.random((2500, 64)).astype(np.float32)
_missing.search(backend, weights, data[:64])  # compile and load everything first
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak resident set
before = status('VmRSS')
index, d2 = _missing.search(backend, weights, data)
print(json.dumps(status('VmHWM') - before))
"""


def bench_missing(table, backends, repeats, quick):
    """Missing values, 10 % of the entries NaN, float32, runs interleaved with the dense
    twin: the BMU search N=200,000, D=64, K=2,500 and one batch epoch of a 50x50 map,
    N=100,000, D=64; and the masked search's extra memory (Linux)."""
    from minisam import _missing

    rng = np.random.default_rng(7)
    n, dim, nodes = 200_000, 64, 2500
    dense = rng.random((n, dim)).astype(np.float32)
    gappy = dense.copy()
    gappy[rng.random(gappy.shape) < 0.1] = np.nan
    weights = rng.random((nodes, dim)).astype(np.float32)
    coords = reference.grid_coordinates(50, 50)
    results = {}
    for name, backend in backends.items():
        if name == "numpy":
            continue  # the oracle: minutes per run
        _missing.search(backend, weights, gappy[:256])  # compile / warm up

        def epoch(data, masked, b=backend):
            sums = np.zeros(weights.shape)
            counts = np.zeros(weights.shape if masked else nodes)
            _missing.batch_sums(b, weights, data, sums, counts)
            b.batch_update(weights.copy(), sums, counts, 0.5, 5.0, coords, "gaussian")

        epoch(gappy[:512], True)
        runs = {"BMU dense": lambda b=backend: b.bmu_many(weights, dense),
                "BMU 10% missing": lambda b=backend: _missing.search(b, weights, gappy),
                "batch dense": lambda: epoch(dense[:100_000], False),
                "batch 10% missing": lambda: epoch(gappy[:100_000], True)}
        print(f"missing values ({name}, runs interleaved)", flush=True)
        medians = _interleaved_medians(runs, repeats)
        for label, seconds in medians.items():
            kind = label.split()[0]
            base = medians[f"{kind} dense"]
            workload = (f"missing: BMU N={n} D={dim} K={nodes} f32" if kind == "BMU"
                        else "missing: batch 50x50 N=100000 D=64 f32")
            table.add(f"{workload}, {label.split(' ', 1)[1]}", name, f"{seconds:.3f} s",
                      f"{seconds / base:.2f}x dense")
            results[(name, label)] = seconds
        if os.path.exists("/proc/self/clear_refs"):
            out = subprocess.run([sys.executable, "-c", _MASKED_PEAK_SCRIPT, name,
                                  str(backend.n_threads)], capture_output=True, text=True,
                                 check=True)
            extra = json.loads(out.stdout.strip().splitlines()[-1])
            table.add(f"missing: BMU peak memory N={n} f32", name, f"{extra / 2**20:.1f} MiB",
                      "outputs (index + distance) included")
            results[(name, "memory")] = extra
    return results


def _first_call_latency(name: str) -> float:
    script = ("import time, numpy as np; from minisam.backends import make_backend;"
              f"b = make_backend({name!r}, 1); w = np.random.random((16, 3));"
              "x = np.random.random((8, 3)); t = time.perf_counter(); b.bmu_many(w, x);"
              "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _gaussian_clusters(n: int, dim: int, k: int, seed: int) -> np.ndarray:
    """``n`` samples around ``k`` centres drawn uniformly in [-10, 10]^dim, unit spread."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10.0, 10.0, (k, dim))
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, dim))


def bench_estimator(table, repeats, quick):
    """Good maps by default (issue 14): ``SelfOrganizingMap(25, 15).fit(X)`` against MiniSom
    2.3.6's ``train(X, 100, use_epochs=True)`` (its other defaults) on minisam's drop-in, which
    reproduces minisom's numbers (its QE is minisom's), on 16,000 x 300 from 16 Gaussian
    clusters, float64. Also MiniSam's own ``train_batch`` (decaying learning rate) for context.
    """
    try:
        from minisam.sklearn import SelfOrganizingMap
    except ImportError:
        print("estimator: skipped (needs minisam[sklearn])", flush=True)
        return None
    from minisam import MiniSam, MiniSom

    n = 2000 if quick else 16_000
    data = _gaussian_clusters(n, 300, 16, 0)
    print(f"estimator: 25x15 map, N={n}, D=300, 16 Gaussian clusters, float64", flush=True)
    start = time.perf_counter()
    drop_in = MiniSom(25, 15, 300, random_seed=1)
    drop_in.train(data, 100, use_epochs=True)
    drop_in_seconds = time.perf_counter() - start
    drop_in_qe = float(drop_in.quantization_error(data))
    table.add("estimator: MiniSom train(X, 100, use_epochs=True)", "drop-in",
              f"{drop_in_seconds:.1f} s", f"QE {drop_in_qe:.4f}, "
              f"TE {drop_in.topographic_error(data):.3f}; one run")
    fitted = []
    seconds = _median_time(lambda: fitted.append(SelfOrganizingMap(25, 15).fit(data)),
                           1 if quick else repeats)
    est = fitted[-1]
    qe = est.quantization_error_
    table.add("estimator: SelfOrganizingMap(25, 15).fit(X) defaults", "auto",
              f"{seconds:.2f} s", f"QE {qe:.4f} ({(qe / drop_in_qe - 1) * 100:+.2f} % vs "
              f"MiniSom), TE {est.topographic_error_:.3f}, "
              f"{drop_in_seconds / seconds:.0f}x faster than the drop-in run")
    results = {"drop_in_seconds": drop_in_seconds, "drop_in_qe": drop_in_qe,
               "estimator_seconds": seconds, "estimator_qe": qe,
               "estimator_te": est.topographic_error_}
    for epochs in (10, 30):  # MiniSam.train_batch: learning rate 0.5 decaying, random start
        som = MiniSam(25, 15, 300, random_seed=0)
        som.random_weights_init(data)
        start = time.perf_counter()
        som.train_batch(data, epochs)
        elapsed = time.perf_counter() - start
        batch_qe = som.quantization_error(data)
        table.add(f"estimator: MiniSam.train_batch({epochs} epochs)", "auto",
                  f"{elapsed:.2f} s", f"QE {batch_qe:.4f} "
                  f"({(batch_qe / drop_in_qe - 1) * 100:+.2f} % vs MiniSom), "
                  f"TE {som.topographic_error(data):.3f}")
        results[f"train_batch_{epochs}_qe"] = batch_qe
    return results


def bench_peers(table, n_threads, quick):
    """Other SOM libraries that are installed, timed in this process on the same workloads,
    with the quantization error each reaches (same exact measure for all: see
    :mod:`minisam._peers`)."""
    from minisam import _peers

    versions = _peers.peer_versions()
    print("peers: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items()),
          flush=True)
    rng = np.random.default_rng(0)

    def report(workload, peer, run):
        try:
            seconds, result = run()
        except _peers.PeerMissing as exc:
            table.add(workload, peer, "not installed", str(exc)[:60])
            return
        except Exception as exc:  # a peer that breaks on this machine: say so, go on
            table.add(workload, peer, "failed", f"{type(exc).__name__}: {str(exc)[:60]}")
            return
        return seconds, result

    def label(peer):
        version = versions.get(peer.split(".")[0]) if not peer.startswith("minisam") else None
        return f"{peer} {version}" if version else peer

    # online: 40x40, D=64, random order (MiniSom's train_random), float64
    steps = 2000 if quick else 20_000
    online = _peers.Workload("online", rng.random((5000, 64)), 40, 40, steps, 4.0, 0.5)
    title = f"peers online 40x40 D=64 {steps} steps f64"
    print(title, flush=True)
    for peer in ("minisam", "minisom"):
        out = report(title, label(peer), lambda p=peer: _peers.run_online(p, online, n_threads))
        if out:
            seconds, weights = out
            table.add(title, label(peer), f"{seconds * 1e6 / steps:.1f} us/step",
                      f"QE {_peers.quantization_error(weights, online.data):.4f}")

    # batch: 16,000 x 300, 25x15 map, 10 epochs
    epochs = 2 if quick else 10
    batch = _peers.Workload("batch", rng.random((16_000, 300)), 25, 15, epochs, 3.0, 0.5)
    title = f"peers batch 16000x300 25x15 {epochs} epochs"
    print(title, flush=True)
    for peer in ("minisam", "minisam.MiniSom", "minisom", "xpysom", "somoclu", "torchsom"):
        out = report(title, label(peer), lambda p=peer: _peers.run_batch(p, batch, n_threads))
        if out:
            seconds, weights = out
            table.add(title, label(peer), f"{seconds:.2f} s",
                      f"QE {_peers.quantization_error(weights, batch.data):.4f}")

    # BMU search: K=2,500, D=64, float32 (MiniSom: float64 N x K matrices)
    n = 5000 if quick else 50_000
    weights = rng.random((2500, 64)).astype(np.float32)
    data = rng.random((n, 64)).astype(np.float32)
    title = f"peers BMU N={n} K=2500 D=64 f32"
    print(title, flush=True)
    for peer in ("minisam", "scikit-learn", "minisom"):
        out = report(title, label(peer), lambda p=peer: _peers.run_bmu(p, weights, data,
                                                                       n_threads))
        if out:
            seconds, index = out
            diff = data.astype(np.float64) - weights.astype(np.float64)[np.asarray(index)]
            qe = float(np.mean(np.sqrt(np.einsum("nd,nd->n", diff, diff))))
            table.add(title, label(peer), f"{n / seconds / 1e6:.3f} M samples/s", f"QE {qe:.6f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1 Sam epoch")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per backend (default: all available CPUs)")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["challenge", "online", "batch", "bmu", "memory",
                                 "topology", "missing", "dask", "estimator"],
                        help="run only these workloads")
    parser.add_argument("--peers", action="store_true",
                        help="time the other SOM libraries that are installed (minisom, "
                             "xpysom, somoclu, torchsom, scikit-learn) on the same workloads")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    args = parser.parse_args(argv)
    n_threads = args.threads or default_n_threads()
    names = available_backends()
    backends = {name: make_backend(name, n_threads) for name in ["numpy", *names]
                if name in names}
    repeats = 3 if args.quick else 5
    kernels = "-"
    if "cython" in names:
        from minisam import _cython_kernels

        kernels = _cython_kernels.VARIANT
    print(f"minisam bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {n_threads} thread(s), OpenMP={openmp_enabled()}, "
          f"Cython kernels={kernels}, backends={list(backends)}", flush=True)
    table = _Table()
    default = [] if args.peers and args.only is None else \
        ["challenge", "online", "batch", "bmu", "memory", "topology", "missing"]
    wanted = set(default if args.only is None else args.only)
    for name in ("numba",):
        if name in backends:
            table.add("first call", name, f"{_first_call_latency(name):.2f} s",
                      "import + first bmu_many (compile or cache load)")
    if "challenge" in wanted:
        bench_challenge(table, backends, repeats, args.quick)
    if "online" in wanted:
        bench_online(table, backends, repeats, args.quick)
    if "batch" in wanted:
        bench_batch(table, backends, repeats, args.quick)
    if "bmu" in wanted:
        bench_bmu(table, backends, repeats, args.quick)
    if "memory" in wanted:
        bench_peak_memory(table, list(backends), n_threads)
    if "topology" in wanted:
        bench_topology(table, backends, repeats, args.quick)
    if "missing" in wanted:
        bench_missing(table, backends, repeats, args.quick)
    if "dask" in wanted:  # only when asked for: needs minisam[dask] and writes 2.4 GiB
        bench_dask(table, 3, args.quick)
    default = [] if args.peers and args.only is None else \
        ["challenge", "online", "batch", "bmu", "memory", "topology", "missing"]
    wanted = set(default if args.only is None else args.only)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(table.markdown() + "\n")


if __name__ == "__main__":
    main()
