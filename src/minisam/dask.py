"""Batch training and scoring on Dask arrays: data larger than memory, or spread over a cluster.

``MiniSam.train_batch`` and ``MiniSom.train_batch_offline`` hand a Dask array (or a Dask
DataFrame, through ``to_dask_array(lengths=True)``) to this module, and so do the scoring
methods (``quantization``, ``quantization_error``, ``topographic_error``,
``activation_response``) and ``random_weights_init``; :func:`winners` gives the per-sample
winners. ``import minisam`` never imports this module or Dask: the API classes recognise a
Dask collection by its class's module and import this module then.

How an epoch runs
-----------------
* One ``compute`` per epoch, one pass over the data. Each chunk of rows is one task: the
  compiled kernels (GIL-free, so the threaded scheduler runs chunks in parallel) find the
  chunk's best-matching units and add its samples up per node, giving float64 sums
  ``(n_nodes, n_features)`` and counts ``(n_nodes,)``: ``n_nodes * (n_features + 1) * 8``
  bytes per chunk whatever its number of rows. Under ``nan_policy='mask'`` the counts are
  per component, ``(n_nodes, n_features)`` (``2 * n_nodes * n_features * 8`` bytes), so
  that each component is divided by its own count (see :mod:`minisam._missing`).
* The partial sums are combined by a tree, :data:`SPLIT_EVERY` parts per task, so the client
  receives one set of sums.
* The neighbourhood smoothing and the batch rule run on the client with
  :func:`minisam._smoothing.apply_batch_rule` (or MiniSom's own rule), the code the in-memory
  path runs: training on a Dask array gives the in-memory numbers up to the order in which
  partial sums are added (rtol 1e-12 in float64).
* The weights reach the workers once per epoch, as one ``dask.delayed`` object with a fresh
  key: neither hashed nor copied into every task.
* Threads: every task passes its thread count to the kernels explicitly (Dask's nanny sets
  ``OMP_NUM_THREADS=1`` in workers). Under the threaded scheduler a task gets
  ``cpus // pool size`` threads (one each on the default pool of one thread per CPU), under
  the synchronous scheduler every CPU, on a ``distributed`` cluster one (Dask runs one task
  per worker thread). A model's ``n_jobs`` overrides this: threads per task.

Scores are computed in the same way: per-sample results (:func:`quantization`,
:func:`winners`) are lazy Dask arrays with the input's row chunks; reductions
(``quantization_error``, ``topographic_error``, ``activation_response``) are computed in one
pass and returned as in-memory values of the types the NumPy path returns.

The data are checked chunk by chunk as they are read (numbers, no NaN or infinity, integers
that the model's float type represents exactly): during the first epoch of a training, or the
one pass of a score. A failed or interrupted call leaves the model unchanged.
"""

from __future__ import annotations

import functools
import math
import uuid

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - only without the optional dependency
    raise ImportError("minisam.dask needs Dask: pip install 'minisam[dask]'") from exc

from minisam import _minisom_core as core
from minisam import _missing
from minisam._blas import find_blas, single_threaded_blas
from minisam._validation import check_data, check_data_shape, check_positive_int
from minisam._watch import Watch
from minisam.backends import default_n_threads, make_backend

__all__ = ["SPLIT_EVERY", "activation_response", "as_dask_array", "quantization",
           "quantization_error", "random_weights_init", "topographic_error", "train_batch",
           "winners"]

#: Partial results combined per task of the reduction tree.
SPLIT_EVERY = 8


# ----------------------------------------------------------------------------- input
def _is_minisom(model) -> bool:
    from minisam.minisom import MiniSom

    return isinstance(model, MiniSom)


def _input_len(model) -> int:
    return model._input_len if _is_minisom(model) else model.input_len


def as_dask_array(data, input_len: int, *, minisom: bool = False) -> da.Array:
    """``data`` as a 2-D Dask array of ``input_len`` columns, chunked along its rows only.

    Parameters
    ----------
    data : dask.array.Array or dask.dataframe.DataFrame
        A DataFrame is converted with ``to_dask_array(lengths=True)`` (one pass to count the
        rows of each partition).
    input_len : int
        The number of features the model expects.
    minisom : bool, default False
        Raise the errors (types and messages) of the MiniSom drop-in instead of MiniSam's.

    Raises
    ------
    TypeError
        Not a Dask array or DataFrame; complex or non-numeric dtype.
    ValueError
        Wrong number of dimensions or columns, no rows, chunks across the columns or of
        unknown size.
    """
    if not isinstance(data, da.Array) and hasattr(data, "to_dask_array"):
        data = data.to_dask_array(lengths=True)
    if not isinstance(data, da.Array):
        raise TypeError(f"data must be a Dask array or DataFrame here, got "
                        f"{type(data).__module__}.{type(data).__name__}")
    kind = data.dtype.kind
    if kind == "c":
        raise TypeError(f"data must be real-valued, got complex dtype {data.dtype}")
    if kind not in "biuf":
        raise TypeError(f"data must be an array of real numbers, got dtype {data.dtype}")
    if any(math.isnan(size) for sizes in data.chunks for size in sizes):
        raise ValueError("data has chunks of unknown size (e.g. after boolean indexing); call "
                         "data.compute_chunk_sizes() first")
    if minisom:
        core.check_data_shape(data.shape, input_len)
    else:
        check_data_shape("data", data.shape, input_len)
    if len(data.chunks[1]) != 1:
        raise ValueError(f"data must be chunked along its rows only (each chunk holding whole "
                         f"samples), got {len(data.chunks[1])} chunks across the columns: "
                         f"rechunk with data.rechunk({{1: -1}})")
    return data


def _minisam_block(block, offset: int, input_len: int, dtype: str, check: bool,
                   nan_policy: str = "raise") -> np.ndarray:
    """One chunk as the model's C-contiguous float array (checked as the in-memory path
    checks the whole array, under the model's ``nan_policy``, when ``check``)."""
    dtype = np.dtype(dtype)
    if block.shape[0] == 0:
        return np.empty((0, input_len), dtype=dtype)
    if not check:
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(block, dtype=dtype)
    try:
        return check_data("data", block, input_len, dtype, nan_policy=nan_policy)
    except ValueError as exc:
        raise ValueError(f"{exc} (index within the chunk of rows {offset} to "
                         f"{offset + block.shape[0] - 1})") from None


def _minisom_block(block, offset: int, check: bool) -> np.ndarray:
    """One chunk as a C-contiguous float64 array, checked as MiniSom's ``_as_data`` checks
    (row numbers counted from the start of the whole array)."""
    array = np.ascontiguousarray(block, dtype=np.float64)
    if check and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"data must contain only finite values; found {array[tuple(bad)]} at "
                         f"index ({offset + int(bad[0])}, {int(bad[1])})")
    return array


# ----------------------------------------------------------------------------- execution
def _threads_per_task(n_jobs, collection) -> int:
    """Kernel threads for each chunk task (see the module docstring)."""
    if n_jobs is not None:
        return int(n_jobs)
    import dask.local
    import dask.threaded

    scheduler = dask.base.get_scheduler(collections=[collection])
    cpus = default_n_threads()
    if scheduler is dask.local.get_sync:
        return cpus
    if scheduler is dask.threaded.get or getattr(scheduler, "__module__", "") == \
            "dask.multiprocessing":
        pool = dask.config.get("num_workers", None) or dask.system.CPU_COUNT
        return max(1, cpus // int(pool))
    return 1  # distributed: Dask runs one task per worker thread


@functools.lru_cache(maxsize=16)
def _engine(backend_name: str, n_threads: int):
    """``(backend, engine of its batch epochs)`` for this process, built once per process."""
    backend = make_backend(backend_name, n_threads)
    route = getattr(backend, "_route", None)  # AutoBackend: the engine per operation
    return backend, (route["batch_epoch"] if isinstance(route, dict) else backend)


def _shared(value):
    """``value`` as one Dask object under a fresh key: sent to each worker once per compute,
    neither hashed nor embedded in every task."""
    return dask.delayed(value, name=f"minisam-shared-{uuid.uuid4().hex}", traverse=False)


class _Chunks:
    """The row chunks of a Dask array as delayed objects, with the index of their first row."""

    def __init__(self, x: da.Array) -> None:
        self.array = x
        self.blocks = list(x.to_delayed(optimize_graph=True).ravel())
        starts = np.cumsum((0, *x.chunks[0][:-1]))
        self.offsets = [int(s) for s in starts]


def _add(*parts):
    """Element-wise sum of tuples of arrays (a node of the reduction tree), in place into a
    copy of the first."""
    totals = [np.array(value, copy=True) for value in parts[0]]
    for part in parts[1:]:
        for total, value in zip(totals, part, strict=True):
            total += value
    return tuple(totals)


def _map_reduce(chunks: _Chunks, func, *args, also=()):
    """``func(block, first_row, *args)`` for every chunk, summed by a tree; one ``compute``
    (with the collections ``also``, whose values follow the sum)."""
    task = dask.delayed(func, pure=False)
    parts = [task(block, offset, *args) for block, offset in zip(chunks.blocks, chunks.offsets,
                                                                   strict=True)]
    combine = dask.delayed(_add, pure=False)
    while len(parts) > 1:
        parts = [combine(*parts[i:i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)]
    # Kernels inside the tasks set BLAS to one thread and restore it; several threads doing so
    # at once could leave it at one: keep it there for the whole compute instead.
    with single_threaded_blas(find_blas()):
        return dask.compute(parts[0], *also)


# ----------------------------------------------------------------------------- MiniSam tasks
def _minisam_sums(block, offset, weights, spec):
    backend_name, threads, input_len, dtype, nan_policy, check = spec
    data = _minisam_block(block, offset, input_len, dtype, check, nan_policy)
    sums = np.zeros((weights.shape[0], input_len))
    # With missing values possible, one count per component (the same shape in every chunk).
    counts = np.zeros(weights.shape if nan_policy == "mask" else weights.shape[0])
    if data.shape[0]:
        # the engine's own first half of a batch epoch: the in-memory path's sums
        _missing.batch_sums(_engine(backend_name, threads)[1], weights, data, sums, counts)
    return sums, counts


def _minisam_search(block, offset, weights, spec, second=False):
    backend_name, threads, input_len, dtype, nan_policy = spec
    data = _minisam_block(block, offset, input_len, dtype, True, nan_policy)
    return data, _missing.search(_engine(backend_name, threads)[0], weights, data, second)


def _minisam_winners_block(block, weights, spec, block_info=None):
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    return _minisam_search(block, offset, weights, spec)[1][0]


def _minisam_quantization_block(block, weights, spec, block_info=None):
    return weights[_minisam_winners_block(block, weights, spec, block_info)]


def _minisam_qe_part(block, offset, weights, spec):
    _, (_, d2) = _minisam_search(block, offset, weights, spec)
    return np.sum(np.sqrt(d2.astype(np.float64))), np.float64(d2.shape[0])


def _minisam_te_part(block, offset, weights, spec, grid):
    data, (first, second) = _minisam_search(block, offset, weights, spec, second=True)
    if data.shape[0] == 0:
        return (np.float64(0.0),)
    return (np.float64(np.count_nonzero(~grid.adjacent(first, second))),)


def _minisam_counts_part(block, offset, weights, spec):
    _, (index, _) = _minisam_search(block, offset, weights, spec)
    return (np.bincount(index, minlength=weights.shape[0]),)


# ----------------------------------------------------------------------------- MiniSom tasks
def _minisom_winners(flat, data, shape, kind, distance, backend_name, threads):
    """``MiniSom._winners_on``: the winners MiniSom's ``winner`` picks, ties included."""
    if kind == "euclidean":
        return core.euclidean_bmu(_engine(backend_name, threads)[0], flat, data)[0]
    if kind is not None:
        return core.bmu_by_distance(kind, flat, data)
    w3 = flat.reshape(shape[0], shape[1], -1)
    return np.array([np.argmin(distance(sample, w3)) for sample in data], dtype=np.int64)


def _minisom_sums(block, offset, shared, spec):
    flat, shape, distance = shared
    backend_name, threads, kind, check = spec
    data = _minisom_block(block, offset, check)
    if data.shape[0] == 0:
        return np.zeros(flat.shape), np.zeros(flat.shape[0])
    index = _minisom_winners(flat, data, shape, kind, distance, backend_name, threads)
    return core.group_sums(data, index, flat.shape[0], compiled=backend_name != "numpy")


def _minisom_winners_at(block, offset, shared, spec):
    flat, shape, distance = shared
    backend_name, threads, kind = spec
    data = _minisom_block(block, offset, True)
    if data.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    return _minisom_winners(flat, data, shape, kind, distance, backend_name, threads)


def _minisom_winners_block(block, shared, spec, block_info=None):
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    return _minisom_winners_at(block, offset, shared, spec)


def _minisom_quantization_block(block, flat, spec, block_info=None):
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    data = _minisom_block(block, offset, True)
    if data.shape[0] == 0:
        return np.empty((0, flat.shape[1]))
    index, _ = core.euclidean_bmu(_engine(*spec)[0], flat, data)
    return flat[index]


def _minisom_qe_part(block, offset, flat, spec):
    data = _minisom_block(block, offset, True)
    if data.shape[0] == 0:
        return np.float64(0.0), np.float64(0.0)
    _, d2 = core.euclidean_bmu(_engine(*spec)[0], flat, data)
    return np.sum(np.sqrt(d2)), np.float64(d2.shape[0])


def _minisom_counts_part(block, offset, shared, spec):
    index = _minisom_winners_at(block, offset, shared, spec)
    return (np.bincount(index, minlength=shared[0].shape[0]),)


def _minisom_te_part(block, offset, flat, spec, geometry):
    """Counts of ``MiniSom._topographic_error_*``: ``(errors, adjacent pairs, samples)``."""
    data = _minisom_block(block, offset, True)
    zero = np.float64(0.0)
    if data.shape[0] == 0:
        return zero, zero, zero
    first, second = _engine(*spec)[0].top2_many(flat, data)
    hexagonal, topology, y_size, px, py = geometry
    n = np.float64(data.shape[0])
    if hexagonal:
        p1 = (first // y_size, first % y_size)
        p2 = (second // y_size, second % y_size)
        dx, dy = px[p1] - px[p2], py[p1] - py[p2]
        if topology.toroidal:
            wrapped = topology.wrap(np.stack([dx, dy], axis=-1))
            dx, dy = wrapped[:, 0], wrapped[:, 1]
        close = np.count_nonzero(np.isclose(1, np.hypot(dx, dy)))
        return zero, np.float64(close), n
    if topology.toroidal:
        adjacent = np.count_nonzero(topology.adjacent(first, second))
        return zero, np.float64(adjacent), n
    steps = np.hypot(first // y_size - second // y_size, first % y_size - second % y_size)
    return np.float64(np.count_nonzero(steps > 1.42)), zero, n


# ----------------------------------------------------------------------------- training
def train_batch(model, data, num_iteration: int, verbose: bool = False, *, progress=False,
                callback=None, callback_every=None, track=None) -> None:
    """Batch training of a :class:`~minisam.MiniSam` (``MiniSam.train_batch``) or a
    :class:`~minisam.MiniSom` (``MiniSom.train_batch_offline``, with ``verbose``) on a Dask
    array or DataFrame: one ``compute`` (one pass over the data) per epoch.

    For MiniSam, ``progress``, ``callback``, ``callback_every`` and ``track`` work per epoch
    as in memory (see ``MiniSam.train_random``); tracked measures take one more pass each.

    Raises the errors of the in-memory method, before any work for the arguments' types and
    shapes; bad values in the data (NaN, infinity) raise ``ValueError`` when the first epoch
    reads them, and the model is left unchanged.
    """
    if _is_minisom(model):
        _minisom_train_batch_offline(model, data, num_iteration, verbose)
        return
    x = as_dask_array(data, model.input_len)
    num_iteration = check_positive_int("num_iteration", num_iteration)
    alphas, sigmas = model._schedules(num_iteration)
    chunks = _Chunks(x)
    threads = _threads_per_task(model.n_jobs, x)
    grid = model.grid

    def measure(flat, key):
        if key == "quantization_error":
            return quantization_error(model, x, flat=flat)
        return topographic_error(model, x, flat=flat)

    watch = Watch(total=num_iteration, unit="epoch", shape=model._weights.shape,
                  progress=progress, callback=callback, every=callback_every, track=track,
                  measure=measure, default_every=1, description="train_batch")

    def run(flat):
        with watch:
            for epoch, (alpha, sigma) in enumerate(zip(alphas, sigmas, strict=True)):
                spec = (model._backend.name, threads, model.input_len, model.dtype.name,
                        model.nan_policy, epoch == 0)
                (sums, counts), = _map_reduce(chunks, _minisam_sums, _shared(flat), spec)
                model._backend.batch_update(flat, sums, counts, float(alpha), float(sigma),
                                            grid.coords, model.neighborhood_function,
                                            grid.periods)
                if not watch.done(epoch + 1, flat, sigma, alpha):
                    break
        model.history = watch.result()

    model._commit(run)


def _minisom_train_batch_offline(som, data, num_iteration, verbose) -> None:
    """``MiniSom.train_batch_offline`` on a Dask array (see :func:`train_batch`)."""
    num_iteration = som._check_iteration_number(num_iteration)
    x = as_dask_array(data, som._input_len, minisom=True)
    chunks = _Chunks(x)
    # MiniSom's last winner search leaves the last sample's activation map behind.
    last = _minisom_block(np.asarray(x[-1:].compute()), x.shape[0] - 1, True)[0]
    threads = _threads_per_task(som._n_jobs, x)
    kind = som._distance_kind()
    som._batch_iterations(
        num_iteration, last,
        lambda flat, eta, sig, it: _minisom_epoch(som, chunks, flat, eta, sig, threads, kind,
                                                  it == 0),
        verbose, lambda: quantization_error(som, x))


def _minisom_epoch(som, chunks, flat, eta, sig, threads, kind, check) -> None:
    """One iteration of ``MiniSom.train_batch_offline``: ``MiniSom._batch_epoch`` with the
    winners and per-node sums computed chunk by chunk on Dask."""
    x_size, y_size = som._weights.shape[0], som._weights.shape[1]
    distance = None if kind is not None else som._activation_distance
    shared = _shared((flat, (x_size, y_size), distance))
    (sums, counts), = _map_reduce(chunks, _minisom_sums, shared,
                                  (som._backend_name, threads, kind, check))
    som._batch_update(flat, sums, counts, eta, sig)


# ----------------------------------------------------------------------------- scoring
def _minisam_spec(model, x):
    return (model._backend.name, _threads_per_task(model.n_jobs, x), model.input_len,
            model.dtype.name, model.nan_policy)


def _minisom_spec(som, x):
    return som._backend_name, _threads_per_task(som._n_jobs, x)


def winners(model, data) -> da.Array:
    """Flat index of each sample's winning node, a lazy int64 Dask array with the row chunks
    of ``data`` (``np.unravel_index(index, (x, y))`` gives the grid positions).

    MiniSam: the best-matching unit; MiniSom: the winner of its activation distance, as
    ``MiniSom.winner`` picks it. The weights are those of the call.
    """
    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        kind = model._distance_kind()
        shared = _shared((model._flat_weights(), model._weights.shape[:2],
                          None if kind is not None else model._activation_distance))
        return x.map_blocks(_minisom_winners_block, shared, (*_minisom_spec(model, x), kind),
                            dtype=np.int64, drop_axis=1, meta=np.empty(0, dtype=np.int64))
    x = as_dask_array(data, model.input_len)
    return x.map_blocks(_minisam_winners_block, _shared(model._flat().copy()),
                        _minisam_spec(model, x), dtype=np.int64, drop_axis=1,
                        meta=np.empty(0, dtype=np.int64))


def quantization(model, data) -> da.Array:
    """Weights of each sample's best-matching unit, a lazy Dask array ``(n_samples,
    input_len)`` with the row chunks of ``data`` (the model's dtype; float64 for MiniSom)."""
    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        return x.map_blocks(_minisom_quantization_block, _shared(model._flat_weights()),
                            _minisom_spec(model, x), dtype=np.float64,
                            meta=np.empty((0, 0)))
    x = as_dask_array(data, model.input_len)
    return x.map_blocks(_minisam_quantization_block, _shared(model._flat().copy()),
                        _minisam_spec(model, x), dtype=model.dtype,
                        meta=np.empty((0, 0), dtype=model.dtype))


def quantization_error(model, data, *, flat=None) -> float | np.float64:
    """Mean Euclidean distance between each sample and its best-matching unit, computed in
    one pass (a ``float`` for MiniSam, a NumPy float64 for MiniSom, as in memory). ``flat``:
    MiniSam weights ``(n_nodes, input_len)`` to measure instead of the model's (training)."""
    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        (total, n), = _map_reduce(_Chunks(x), _minisom_qe_part,
                                  _shared(model._flat_weights()), _minisom_spec(model, x))
        return np.float64(total / n)
    x = as_dask_array(data, model.input_len)
    weights = model._flat().copy() if flat is None else flat
    (total, n), = _map_reduce(_Chunks(x), _minisam_qe_part, _shared(weights),
                              _minisam_spec(model, x))
    return float(total / n)


def topographic_error(model, data, *, flat=None) -> float | np.float64:
    """Fraction of samples whose best and second-best nodes are not adjacent (as the model's
    in-memory method defines it), computed in one pass; NaN with a warning on a 1-by-1 map.
    ``flat``: as for :func:`quantization_error`."""
    import warnings

    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        if int(np.prod(model._activation_map.shape)) == 1:
            warnings.warn('The topographic error is not defined for a 1-by-1 map.',
                          UserWarning, stacklevel=3)
            return np.nan
        geometry = (model.topology == "hexagonal", model._topology, model._weights.shape[1],
                    model._xx.T.copy(), model._yy.T.copy())
        (errors, adjacent, n), = _map_reduce(_Chunks(x), _minisom_te_part,
                                             _shared(model._flat_weights()),
                                             _minisom_spec(model, x), _shared(geometry))
        if model.topology == "hexagonal" or model._topology.toroidal:
            return np.float64(1 - adjacent / n)  # 1 - mean(adjacent), as in memory
        return np.float64(errors / n)
    x = as_dask_array(data, model.input_len)
    if model.grid.n_nodes == 1:
        warnings.warn("The topographic error is not defined for a 1-by-1 map.",
                      RuntimeWarning, stacklevel=3)
        return float("nan")
    weights = model._flat().copy() if flat is None else flat
    (errors,), = _map_reduce(_Chunks(x), _minisam_te_part, _shared(weights),
                             _minisam_spec(model, x), _shared(model.grid))
    return float(errors / x.shape[0])


def activation_response(model, data) -> np.ndarray:
    """How many samples each node wins, an ``(x, y)`` array computed in one pass (int64 for
    MiniSam; float64 for MiniSom, which also leaves the last sample's activation map, as in
    memory)."""
    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        kind = model._distance_kind()
        shared = _shared((model._flat_weights(), model._weights.shape[:2],
                          None if kind is not None else model._activation_distance))
        ((counts,), last) = _map_reduce(_Chunks(x), _minisom_counts_part, shared,
                                        (*_minisom_spec(model, x), kind), also=(x[-1:],))
        model._activate(_minisom_block(np.asarray(last), x.shape[0] - 1, True)[0])
        return counts.astype(np.float64).reshape(model._weights.shape[:2])
    x = as_dask_array(data, model.input_len)
    (counts,), = _map_reduce(_Chunks(x), _minisam_counts_part, _shared(model._flat().copy()),
                             _minisam_spec(model, x))
    return counts.reshape(model.x, model.y).astype(np.int64)


def random_weights_init(model, data) -> None:
    """``random_weights_init`` on a Dask array: the same random draws as in memory, and only
    the drawn rows are read (and checked)."""
    if _is_minisom(model):
        x = as_dask_array(data, model._input_len, minisom=True)
        shape = model._activation_map.shape
        state = model._random_generator.get_state()
        try:
            picks = [model._random_generator.randint(x.shape[0])
                     for _ in range(int(np.prod(shape)))]
            rows = _minisom_block(np.asarray(x[np.array(picks)].compute()), 0, True)
        except BaseException:
            model._random_generator.set_state(state)
            raise
        model._weights[np.unravel_index(np.arange(len(picks)), shape)] = rows
        return
    x = as_dask_array(data, model.input_len)
    state = model._rng.bit_generator.state
    try:
        picks = model._rng.integers(0, x.shape[0], size=model.grid.n_nodes)
        rows = check_data("data", np.asarray(x[picks].compute()), model.input_len, model.dtype,
                          nan_policy=model.nan_policy)
    except BaseException:
        model._rng.bit_generator.state = state
        raise
    model._set_initial_rows(rows)

