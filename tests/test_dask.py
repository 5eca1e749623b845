"""Batch training and scoring on Dask arrays (:mod:`minisam.dask`).

Every result on a Dask array is compared with the same call on the NumPy array: equal to
rtol 1e-12 in float64 (the per-chunk sums are added in another order), on the threaded
scheduler and on a real ``distributed.LocalCluster`` of two worker processes, one of which a
test kills during an epoch. CI installs the test extra, so there a missing Dask fails instead
of skipping.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, MiniSom

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import dask  # CI installs the test extra: missing Dask is a failure there, not a skip
    import dask.array as da
    import distributed
    import zarr
else:
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    zarr = pytest.importorskip("zarr")
import dask.callbacks  # noqa: E402  (not loaded by `import dask`)

RTOL = 1e-12
N, D = 700, 4
#: Row chunks: one, three even, seven uneven, and uneven with empty chunks.
CHUNKINGS = {
    "1": (N,),
    "3": (234, 233, 233),
    "7": (100, 37, 163, 1, 200, 99, 100),
    "empty": (0, 300, 0, 0, 250, 150, 0),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(13)
    centres = rng.random((5, D)) * 4
    return centres[rng.integers(0, 5, N)] + rng.normal(0, 0.3, (N, D))


@pytest.fixture(scope="module")
def uniform():
    return np.random.default_rng(14).random((N, D)) * 4


def _dask_array(data, chunks):
    return da.from_array(data, chunks=(chunks, (data.shape[1],)))


def _threaded():
    return dask.config.set(scheduler="threads")


# ----------------------------------------------------------------------------- MiniSam
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("backend", ["auto", "numba", "numpy"])
def test_minisam_train_batch_matches_numpy(data, chunking, backend):
    expected = MiniSam(7, 6, D, sigma=3.0, random_seed=4, backend=backend)
    expected.train_batch(data, 4)
    model = MiniSam(7, 6, D, sigma=3.0, random_seed=4, backend=backend)
    with _threaded():
        model.train_batch(_dask_array(data, CHUNKINGS[chunking]), 4)
    assert_allclose(model.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)
    assert model._rng.bit_generator.state == expected._rng.bit_generator.state


@pytest.mark.parametrize(("topology", "toroidal", "neighbourhood"), [
    ("hexagonal", True, "gaussian"), ("rectangular", True, "bubble"),
    ("hexagonal", False, "bubble")])
def test_minisam_train_batch_topologies(data, topology, toroidal, neighbourhood):
    def make():
        return MiniSam(6, 5, D, sigma=2.5, random_seed=2, backend="numba", topology=topology,
                       toroidal=toroidal, neighborhood_function=neighbourhood)

    expected = make()
    expected.train_batch(data, 3)
    model = make()
    with _threaded():
        model.train_batch(_dask_array(data, CHUNKINGS["7"]), 3)
    assert_allclose(model.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)


def test_minisam_callbacks_history_and_early_stop_per_epoch(data):
    """Progress, callbacks, tracked history and early stopping work per epoch on Dask as in
    memory (issue 12's watch), with the same numbers."""
    def train(x, stop_at):
        seen = []

        def callback(state):
            seen.append((state.done, state.quantization_error, state.weights.copy()))
            return state.done < stop_at

        som = MiniSam(6, 5, D, sigma=2.5, random_seed=8)
        som.train_batch(x, 6, callback=callback, track=("qe", "te"), progress=True)
        return som, seen

    expected, seen_expected = train(data, 4)
    with _threaded():
        model, seen = train(_dask_array(data, CHUNKINGS["7"]), 4)
    assert [s[0] for s in seen] == [s[0] for s in seen_expected] == [1, 2, 3, 4]
    for (_, qe, w), (_, qe_expected, w_expected) in zip(seen, seen_expected, strict=True):
        assert qe == pytest.approx(qe_expected, rel=RTOL)
        assert_allclose(w, w_expected, rtol=RTOL, atol=0)
    assert set(model.history) == set(expected.history)
    for key, values in expected.history.items():
        assert_allclose(model.history[key], values, rtol=RTOL)
    assert_allclose(model.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)


def test_dask_dataframe_is_accepted(data):
    # pandas comes with the test extra (dask[dataframe]); the musllinux wheel tests lack it.
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(data), npartitions=3)
    expected, model = MiniSam(5, 4, D, random_seed=2), MiniSam(5, 4, D, random_seed=2)
    expected.train_batch(data, 3)
    with _threaded():
        model.train_batch(frame, 3)
        assert_allclose(model.quantization_error(frame), expected.quantization_error(data),
                        rtol=RTOL)
    assert_allclose(model.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)
    som, som_expected = MiniSom(5, 4, D, random_seed=2), MiniSom(5, 4, D, random_seed=2)
    som_expected.train_batch_offline(data, 3)
    with _threaded():
        som.train_batch_offline(frame, 3)
    assert_allclose(som.get_weights(), som_expected.get_weights(), rtol=RTOL, atol=0)


def test_minisam_float32_and_sync_scheduler(data):
    expected = MiniSam(5, 5, D, random_seed=3, dtype=np.float32)
    expected.train_batch(data, 3)
    model = MiniSam(5, 5, D, random_seed=3, dtype=np.float32)
    with dask.config.set(scheduler="sync"):
        model.train_batch(_dask_array(data, CHUNKINGS["3"]), 3)
    assert model.get_weights().dtype == np.float32
    assert_allclose(model.get_weights(), expected.get_weights(), rtol=1e-6)


@pytest.mark.parametrize("chunking", ["1", "empty"])
def test_minisam_scores_match_numpy(data, uniform, chunking):
    som = MiniSam(6, 6, D, sigma=3.0, random_seed=5)
    som.train_batch(data, 5)
    data = uniform  # scored on other data: neither error is 0
    x = _dask_array(data, CHUNKINGS[chunking])
    with _threaded():
        lazy = som.quantization(x)
        assert isinstance(lazy, da.Array) and lazy.chunks[0] == x.chunks[0]
        assert_array_equal(lazy.compute(), som.quantization(data))
        winners = _minisam_dask().winners(som, x)
        assert isinstance(winners, da.Array)
        index = winners.compute()
        assert index.dtype == np.int64
        assert_array_equal(som.get_weights().reshape(-1, D)[index], som.quantization(data))
        qe = som.quantization_error(x)
        assert isinstance(qe, float)
        assert_allclose(qe, som.quantization_error(data), rtol=RTOL)
        te = som.topographic_error(x)
        assert te == som.topographic_error(data) and 0 < te < 1
        hits = som.activation_response(x)
        assert hits.dtype == np.int64
        assert_array_equal(hits, som.activation_response(data))


def _minisam_dask():
    import minisam.dask

    return minisam.dask


def test_random_weights_init_reads_the_same_rows(data):
    a, b = MiniSam(4, 3, D, random_seed=8), MiniSam(4, 3, D, random_seed=8)
    a.random_weights_init(data)
    b.random_weights_init(_dask_array(data, CHUNKINGS["7"]))
    assert_array_equal(a.get_weights(), b.get_weights())
    c, e = MiniSom(4, 3, D, random_seed=8), MiniSom(4, 3, D, random_seed=8)
    c.random_weights_init(data)
    e.random_weights_init(_dask_array(data, CHUNKINGS["7"]))
    assert_array_equal(c.get_weights(), e.get_weights())


# ----------------------------------------------------------------------------- MiniSom
MINISOM_CASES = {
    "gaussian": {},
    "hexagonal-bubble": {"topology": "hexagonal", "neighborhood_function": "bubble",
                         "sigma": 2},
    "mexican-hat-cosine": {"neighborhood_function": "mexican_hat",
                           "activation_distance": "cosine"},
    "callable": {"activation_distance": lambda x, w: np.linalg.norm(x - w, axis=-1)},
}


@pytest.mark.parametrize(("case", "chunking"), [
    *((case, chunking) for case in MINISOM_CASES if case != "callable" for chunking in CHUNKINGS),
    ("callable", "7")])  # the per-sample callable is slow: one chunking
def test_minisom_train_batch_offline_matches_numpy(data, chunking, case):
    options = {"sigma": 1.5, **MINISOM_CASES[case]}
    expected = MiniSom(6, 5, D, random_seed=6, **options)
    expected.train_batch_offline(data, 4)
    som = MiniSom(6, 5, D, random_seed=6, **options)
    with _threaded():
        som.train_batch_offline(_dask_array(data, CHUNKINGS[chunking]), 4)
    assert_allclose(som.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)
    assert_allclose(som._activation_map, expected._activation_map, rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
def test_minisom_scores_match_numpy(data, uniform, topology):
    som = MiniSom(6, 6, D, sigma=1.5, random_seed=7, topology=topology)
    som.train_batch_offline(data, 5)
    data = uniform
    x = _dask_array(data, CHUNKINGS["empty"])
    with _threaded():
        lazy = som.quantization(x)
        assert isinstance(lazy, da.Array)
        assert_array_equal(lazy.compute(), som.quantization(data))
        assert_allclose(som.quantization_error(x), som.quantization_error(data), rtol=RTOL)
        te = som.topographic_error(x)
        assert te == som.topographic_error(data) and 0 < te < 1
        hits = som.activation_response(x)
        map_after_dask = som._activation_map.copy()
        assert_array_equal(hits, som.activation_response(data))
        assert_array_equal(map_after_dask, som._activation_map)
        index = _minisam_dask().winners(som, x).compute()
        assert_array_equal(index, [np.ravel_multi_index(som.winner(v), (6, 6)) for v in data])


def test_minisom_verbose_prints_progress(data, capsys):
    som = MiniSom(4, 4, D, random_seed=1)
    with _threaded():
        som.train_batch_offline(_dask_array(data, CHUNKINGS["3"]), 3, verbose=True)
    out = capsys.readouterr().out
    assert "[ 3 / 3 ] 100%" in out and "Quantization Error:" in out


# ----------------------------------------------------------------------------- one pass
class _Counter(dask.callbacks.Callback):
    """Counts computes and records the size of each graph sent to the scheduler."""

    def __init__(self):
        super().__init__()
        self.graph_bytes = []

    def _start(self, dsk):
        import cloudpickle

        self.graph_bytes.append(len(cloudpickle.dumps(dict(dsk))))


LOADS = []


def _load_block(block, block_info=None):
    """Deterministic data per chunk (no array embedded in the graph), counting every load."""
    (start, stop), _ = block_info[None]["array-location"]
    LOADS.append(start)
    return np.random.default_rng(start).random((stop - start, block.shape[1]))


def _generated(chunks, d):
    template = da.zeros((sum(chunks), d), chunks=(chunks, (d,)))
    return template.map_blocks(_load_block, dtype=np.float64)


def test_one_compute_and_one_pass_per_epoch_weights_shipped_once():
    chunks = CHUNKINGS["7"]
    x = _generated(chunks, 16)
    som = MiniSam(20, 20, 16, random_seed=1)
    weights_bytes = som.get_weights().nbytes  # 51 kB
    LOADS.clear()
    with _threaded(), _Counter() as counter:
        som.train_batch(x, 3)
    assert len(counter.graph_bytes) == 3  # one compute per epoch
    assert len(LOADS) == 3 * len(chunks)  # every chunk read once per epoch
    # The weights travel as one object per epoch: embedded in each of the 7 chunk tasks they
    # would make the graph at least 7 times their size.
    assert all(size < 2 * weights_bytes for size in counter.graph_bytes)
    assert all(size > weights_bytes for size in counter.graph_bytes)


# ----------------------------------------------------------------------------- errors
def test_online_training_on_dask_raises_type_error(data):
    x = _dask_array(data, CHUNKINGS["3"])
    sam, som = MiniSam(3, 3, D), MiniSom(3, 3, D)
    for call in (lambda: sam.train_random(x, 10), lambda: sam.train_epochs(x, 1),
                 lambda: som.train(x, 10), lambda: som.train_random(x, 10),
                 lambda: som.train_batch(x, 10)):
        with pytest.raises(TypeError, match="batch"):
            call()


def test_bad_dask_input_fails_before_any_work(data):
    sam, som = MiniSam(3, 3, D), MiniSom(3, 3, D)
    by_columns = da.from_array(data, chunks=(100, 2))
    for model in (sam, som):
        train = model.train_batch if model is sam else model.train_batch_offline
        with pytest.raises(ValueError, match="chunked along its rows only"):
            train(by_columns, 2)
        with pytest.raises(ValueError, match="unknown size"):
            train(_dask_array(data, CHUNKINGS["3"])[da.from_array(data[:, 0] > 0)], 2)
        with pytest.raises(TypeError, match="complex"):
            train(_dask_array(data.astype(complex), CHUNKINGS["3"]), 2)
        with pytest.raises((TypeError, ValueError), match="num_iteration"):
            train(_dask_array(data, CHUNKINGS["3"]), 0)
    with pytest.raises(ValueError, match="4 columns"):
        sam.train_batch(da.ones((10, 3), chunks=5), 1)
    with pytest.raises(ValueError, match="Received 3 features"):
        som.train_batch_offline(da.ones((10, 3), chunks=5), 1)
    with pytest.raises(ValueError, match="at least one"):
        sam.quantization_error(da.ones((0, D), chunks=5))


@pytest.mark.parametrize("model", ["MiniSam", "MiniSom"])
def test_nan_in_a_chunk_raises_and_leaves_the_model_unchanged(data, model):
    bad = data.copy()
    bad[450, 2] = np.nan
    x = _dask_array(bad, CHUNKINGS["7"])
    if model == "MiniSam":
        som = MiniSam(4, 4, D, random_seed=3)
        before, state = som.get_weights(), som._rng.bit_generator.state
        with _threaded(), pytest.raises(ValueError, match="finite") as info:
            som.train_batch(x, 3)
        assert "rows 301 to 500" in str(info.value)
        assert som._rng.bit_generator.state == state
    else:
        som = MiniSom(4, 4, D, random_seed=3)
        before = som.get_weights().copy()
        with _threaded(), pytest.raises(ValueError, match=r"at index \(450, 2\)"):
            som.train_batch_offline(x, 3)
    assert_array_equal(som.get_weights(), before)


def test_threads_per_task_follow_the_scheduler(monkeypatch):
    from minisam.dask import _threads_per_task

    monkeypatch.setenv("MINISAM_NUM_THREADS", "8")
    x = da.ones((10, 2), chunks=5)
    with dask.config.set(scheduler="threads", num_workers=2):
        assert _threads_per_task(None, x) == 4  # 8 CPUs shared by a pool of 2 threads
        assert _threads_per_task(3, x) == 3  # the model's n_jobs: threads per task
    with dask.config.set(scheduler="threads", num_workers=16):
        assert _threads_per_task(None, x) == 1
    with dask.config.set(scheduler="sync"):
        assert _threads_per_task(None, x) == 8


def test_import_minisam_does_not_import_dask():
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import minisam
        som = minisam.MiniSam(3, 3, 2, random_seed=0)
        som.train_batch(np.random.default_rng(0).random((20, 2)), 2)
        som.quantization_error(np.ones((3, 2)))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed",
                                                                        "zarr", "minisam.dask"))
        loaded += [m for m in sys.modules if m == "minisam.dask"]
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- larger than memory
_RSS_SCRIPT = """
import json, sys
import dask.array as da
import numpy as np
from minisam import MiniSam

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

x = da.from_zarr(sys.argv[1])
som = MiniSam(10, 10, x.shape[1], dtype=np.float32, random_seed=0)
som.train_batch(x[:50_000], 1)  # imports, kernels and buffers in place first
results = {}
for name, call in [("train", lambda: som.train_batch(x, 1)),
                   ("qe", lambda: som.quantization_error(x)),  # the scores: one pass each
                   ("te", lambda: som.topographic_error(x)),
                   ("hits", lambda: int(som.activation_response(x).sum())),
                   ("quantization", lambda: float(som.quantization(x).sum().compute()))]:
    open('/proc/self/clear_refs', 'w').write('5')  # reset the peak resident set
    before = status('VmRSS')
    value = call()
    results[name] = {"growth": status('VmHWM') - before, "value": value}
print(json.dumps(results))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_zarr_epoch_and_scores_peak_memory_is_well_below_the_data(tmp_path):
    rows, dim, chunk = 800_000, 64, 25_000  # 205 MB of float32
    path = str(tmp_path / "data.zarr")
    if int(zarr.__version__.split(".")[0]) >= 3:
        store = zarr.create_array(store=path, shape=(rows, dim), chunks=(chunk, dim),
                                  dtype="float32", compressors=None)
    else:  # zarr 2 (Python 3.10)
        store = zarr.open_array(path, mode="w", shape=(rows, dim), chunks=(chunk, dim),
                                dtype="float32", compressor=None)
    rng = np.random.default_rng(0)
    for start in range(0, rows, 100_000):
        store[start:start + 100_000] = rng.random((100_000, dim), dtype=np.float32)
    nbytes = rows * dim * 4
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, path], capture_output=True,
                         text=True, check=True)
    result = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    # Each call's peak resident set above what was resident before it.
    for name, run in result.items():
        assert run["growth"] < nbytes / 4, (name, run["growth"], nbytes)
    assert result["train"]["value"] is None
    assert np.isfinite(result["qe"]["value"]) and 0 <= result["te"]["value"] <= 1
    assert result["hits"]["value"] == rows and np.isfinite(result["quantization"]["value"])


# ----------------------------------------------------------------------------- LocalCluster
@pytest.fixture(scope="module")
def cluster_client():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_local_cluster_matches_numpy(data, cluster_client):
    x = _dask_array(data, CHUNKINGS["empty"])
    sam, sam_expected = MiniSam(6, 5, D, random_seed=9), MiniSam(6, 5, D, random_seed=9)
    som, som_expected = MiniSom(6, 5, D, sigma=1.5, random_seed=9), \
        MiniSom(6, 5, D, sigma=1.5, random_seed=9)
    sam_expected.train_batch(data, 3)
    som_expected.train_batch_offline(data, 3)
    with cluster_client.as_current():
        sam.train_batch(x, 3)
        som.train_batch_offline(x, 3)
        assert_allclose(sam.quantization_error(x), sam_expected.quantization_error(data),
                        rtol=RTOL)
        assert som.topographic_error(x) == som_expected.topographic_error(data)
    assert_allclose(sam.get_weights(), sam_expected.get_weights(), rtol=RTOL, atol=0)
    assert_allclose(som.get_weights(), som_expected.get_weights(), rtol=RTOL, atol=0)
    workers = cluster_client.run(lambda: sorted(
        m for m in sys.modules if m in ("minisam.dask", "minisam._cython_kernels")))
    assert all(mods == ["minisam._cython_kernels", "minisam.dask"]
               for mods in workers.values())
    with cluster_client.as_current():
        from minisam.dask import _threads_per_task

        assert _threads_per_task(None, x) == 1  # one task per worker thread


def _load_or_die(block, marker, block_info=None):
    """Like :func:`_load_block`, but the first load of the chunk at row 300 kills its worker."""
    (start, stop), _ = block_info[None]["array-location"]
    if start == 300 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return np.random.default_rng(start).random((stop - start, block.shape[1]))


def test_worker_killed_during_an_epoch_changes_nothing(tmp_path, cluster_client):
    chunks = CHUNKINGS["7"]
    template = da.zeros((sum(chunks), D), chunks=(chunks, (D,)))
    marker = str(tmp_path / "killed")
    x = template.map_blocks(_load_or_die, marker, dtype=np.float64)
    in_memory = np.concatenate([np.random.default_rng(s).random((n, D))
                                for s, n in zip(np.cumsum((0, *chunks[:-1])), chunks,
                                                strict=True)])
    expected = MiniSam(5, 5, D, random_seed=1)
    expected.train_batch(in_memory, 3)
    pids = set(cluster_client.run(os.getpid).values())
    som = MiniSam(5, 5, D, random_seed=1)
    with cluster_client.as_current():
        som.train_batch(x, 3)
    assert os.path.exists(marker)  # a worker was killed during the first epoch
    cluster_client.wait_for_workers(2, timeout=60)
    assert set(cluster_client.run(os.getpid).values()) != pids  # and replaced
    assert_allclose(som.get_weights(), expected.get_weights(), rtol=RTOL, atol=0)
