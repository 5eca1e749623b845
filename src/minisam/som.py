"""``MiniSam``: the notebook's vectorised SOM API, running on minisam's compute backends."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

from minisam import _memory, _missing, _persistence, _scoring, _slicing
from minisam._locking import locked, model_lock
from minisam._schedules import decay_time_constant, exponential_schedule
from minisam._validation import (
    check_choice,
    check_data,
    check_dtype,
    check_flag,
    check_positive_int,
    check_positive_real,
    check_seed,
    check_vector,
    dask_online_error,
    is_dask,
)
from minisam._watch import Watch
from minisam.backends import BACKEND_NAMES, make_backend
from minisam.topology import LATTICES, Topology

__all__ = ["MiniSam"]

#: The neighbourhood functions MiniSam offers (the kernels know more, for the MiniSom drop-in).
NEIGHBOURHOOD_FUNCTIONS = ("gaussian", "bubble")


def _dask():
    """:mod:`minisam.dask`, imported only when a Dask collection is passed in."""
    from minisam import dask as dask_support

    return dask_support


def _check_n_jobs(n_jobs):
    return None if n_jobs is None else check_positive_int("n_jobs", n_jobs)


class MiniSam:
    """A Self-Organizing Map on an ``x`` by ``y`` grid of nodes, rectangular or hexagonal,
    planar or toroidal.

    Parameters
    ----------
    x, y : int
        Map size (number of rows and columns of nodes), each >= 1.
    input_len : int
        Number of features of each input vector.
    sigma : float, optional
        Initial neighbourhood radius ``sigma_0``; defaults to ``max(x, y) / 2``.
    learning_rate : float, default 0.5
        Initial learning rate ``alpha_0``.
    neighborhood_function : {'gaussian', 'bubble'}, default 'gaussian'
        ``'gaussian'``: ``exp(-d^2 / (2 sigma^2))``; ``'bubble'``: 1 where ``d <= sigma``, else 0,
        where ``d`` is the grid distance to the best-matching unit (between the nodes'
        positions, :meth:`node_positions`; the shortest way round on a torus).
    random_seed : int, optional
        Seed of the model's random generator (``numpy.random.default_rng``), used for the
        initial weights, :meth:`random_weights_init` and the sample order of
        :meth:`train_random`. The same seed gives the same weights.
    backend : {'auto', 'numpy', 'cython', 'numba'}, default 'auto'
        Compute engine. ``'auto'`` sends each operation to the engine measured fastest for it
        among those installed; :attr:`backend_plan` shows the choice.
    dtype : numpy.float32 or numpy.float64, default numpy.float64
        Floating-point type of the weights; input data is converted to it (values that
        overflow it are refused).
    n_jobs : int, optional
        Threads the compiled kernels may use; default: every CPU available to the process.
    topology : {'rectangular', 'hexagonal'}, keyword-only, default 'rectangular'
        Lattice of the nodes. Hexagonal: row ``i`` is a line of nodes one unit apart, odd
        rows are shifted half a step along the row and rows are ``sqrt(3) / 2`` apart, so
        that a node's six neighbours are all at distance 1.
    toroidal : bool, keyword-only, default False
        Join opposite edges of the map (periodic boundaries): grid distances are the
        shortest way round, and every node has a full set of neighbours. A hexagonal torus
        needs an even ``x`` (its rows alternate the half-step shift).
    nan_policy : {'raise', 'mask'}, keyword-only, default 'raise'
        What a NaN in the data means. ``'raise'``: an error, as for infinity. ``'mask'``: a
        missing value. Winners are then found over each sample's observed features, online
        steps move only the observed components, and a batch epoch divides each component
        by its own neighbourhood-weighted count of observed values. Reported distances
        (:meth:`quantization_error`, :meth:`bmus`) are scaled by ``input_len / n_observed``.
        A sample with nothing observed is refused; infinity is refused under both policies;
        weights never hold NaN. :meth:`impute` fills the gaps of data from the map.

    Notes
    -----
    Both the radius and the learning rate decay as ``value_0 * exp(-t / lam)`` with
    ``lam = num_iteration / ln(sigma_0)``, so the radius reaches 1 at the end of training.
    When ``sigma_0 <= 1`` that formula would make them grow; minisam then keeps both constant.

    Long calls run in slices of bounded work (bitwise one kernel call's result), so Ctrl-C,
    ``progress=True`` and callbacks act within a slice's time; an interrupted or failed call
    leaves the weights and random state as they were. Calls on one model from several
    threads run one at a time (a lock per model). A process forked after training runs the
    kernels serially, with one ``RuntimeWarning`` (see README "Long runs").
    """

    def __init__(self, x, y, input_len, sigma=None, learning_rate=0.5,
                 neighborhood_function="gaussian", random_seed=None, *, backend="auto",
                 dtype=np.float64, n_jobs=None, topology="rectangular", toroidal=False,
                 nan_policy="raise"):
        self.x = check_positive_int("x", x)
        self.y = check_positive_int("y", y)
        self.input_len = check_positive_int("input_len", input_len)
        self.sigma = (max(self.x, self.y) / 2.0 if sigma is None
                      else check_positive_real("sigma", sigma))
        self.learning_rate = check_positive_real("learning_rate", learning_rate)
        self.neighborhood_function = check_choice(
            "neighborhood_function", neighborhood_function, NEIGHBOURHOOD_FUNCTIONS)
        self.random_seed = check_seed("random_seed", random_seed)
        self.dtype = check_dtype("dtype", dtype)
        self.topology = check_choice("topology", topology, LATTICES)
        self.toroidal = check_flag("toroidal", toroidal)
        self.nan_policy = check_choice("nan_policy", nan_policy, _missing.NAN_POLICIES)
        _memory.check_fits(f"a {self.x} x {self.y} map of {self.input_len} {self.dtype.name} "
                           f"features", self.x * self.y * (self.input_len * self.dtype.itemsize
                                                           + 64))
        self._grid = Topology(self.x, self.y, self.topology, self.toroidal)
        check_choice("backend", backend, BACKEND_NAMES)
        self.n_jobs = _check_n_jobs(n_jobs)
        self._backend = make_backend(backend, self.n_jobs)
        self._requested_backend = backend
        self._rng = np.random.default_rng(self.random_seed)
        self._weights = self._rng.random((self.x, self.y, self.input_len), dtype=self.dtype)
        #: History of the last training call that tracked measures (``track=``): a dict of
        #: 1-D arrays, ``'step'`` (online) or ``'epoch'`` (batch) done at each checkpoint,
        #: ``'sigma'``, ``'learning_rate'`` and the tracked ``'quantization_error'`` and/or
        #: ``'topographic_error'``; None if that call tracked nothing.
        self.history: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ introspection
    @property
    def backend_name(self) -> str:
        """Name of the backend in use: ``'auto'``, ``'numpy'``, ``'cython'`` or ``'numba'``."""
        return self._backend.name

    @property
    def backend_plan(self) -> dict[str, str]:
        """Which engine runs each kernel operation (differs per operation only for ``'auto'``).

        Keys are ``'bmu_many'``, ``'top2_many'``, ``'train_online'`` and ``'batch_epoch'``.
        """
        plan = getattr(self._backend, "plan", None)
        if plan is not None:
            return dict(plan)
        return dict.fromkeys(("bmu_many", "top2_many", "train_online", "batch_epoch"),
                             self._backend.name)

    def __repr__(self) -> str:
        return (f"MiniSam(x={self.x}, y={self.y}, input_len={self.input_len}, "
                f"sigma={self.sigma!r}, learning_rate={self.learning_rate!r}, "
                f"neighborhood_function={self.neighborhood_function!r}, "
                f"random_seed={self.random_seed!r}, backend={self.backend_name!r}, "
                f"dtype={self.dtype.name}, topology={self.topology!r}, "
                f"toroidal={self.toroidal!r}, nan_policy={self.nan_policy!r})")

    @locked
    def get_weights(self) -> np.ndarray:
        """A copy of the weights, shape ``(x, y, input_len)``."""
        return self._weights.copy()

    @property
    def grid(self) -> Topology:
        """The map's :class:`~minisam.topology.Topology` (positions, distances, neighbours)."""
        return self._grid

    def node_positions(self) -> np.ndarray:
        """Positions of the nodes in the plane, an ``(x, y, 2)`` float64 array: node
        ``(i, j)`` sits at ``node_positions()[i, j]``. Rectangular maps: ``(i, j)``;
        hexagonal: ``(i * sqrt(3) / 2, j + 0.5 * (i % 2))``. On a torus the positions repeat
        with periods ``grid.periods``."""
        return self._grid.positions()

    # ------------------------------------------------------------------ helpers
    def _data(self, data, name="data"):
        return check_data(name, data, self.input_len, self.dtype, nan_policy=self.nan_policy)

    def _flat(self, weights=None):
        w = self._weights if weights is None else weights
        return w.reshape(self._grid.n_nodes, self.input_len)

    def _schedules(self, num_iteration):
        lam = decay_time_constant(num_iteration, self.sigma)
        return (exponential_schedule(self.learning_rate, num_iteration, lam),
                exponential_schedule(self.sigma, num_iteration, lam))

    def _commit(self, run):
        """Run ``run(flat_weights)`` on a copy; keep it only if it succeeds, and return what
        ``run`` returned.

        A call that raises (even KeyboardInterrupt) leaves weights and random state unchanged.
        """
        rng_state = self._rng.bit_generator.state
        weights = self._weights.copy()
        try:
            result = run(self._flat(weights))
        except BaseException:
            self._rng.bit_generator.state = rng_state
            raise
        self._weights = weights
        return result

    def _watch(self, total, unit, progress, callback, callback_every, track, default_every,
               description, data):
        """A :class:`~minisam._watch.Watch` whose tracked measures are taken on ``data``."""
        def measure(flat, key):
            if key == "quantization_error":
                return self._quantization_error(flat, data)
            return self._topographic_error(flat, data)

        return Watch(total=total, unit=unit, shape=self._weights.shape, progress=progress,
                     callback=callback, every=callback_every, track=track, measure=measure,
                     default_every=default_every, description=description)

    def _online(self, flat, data, order, alphas, sigmas, watch) -> None:
        """Online steps ``order`` in slices of bounded work (see :mod:`minisam._slicing`),
        reporting each slice to ``watch``; stops early when the callback says so."""
        per_slice = _slicing.online_steps(*flat.shape, self.backend_plan["train_online"])
        train = (self._backend.masked_train_online if _missing.has_missing(data)
                 else self._backend.train_online)
        with watch:
            for a, b in _slicing.spans(0, len(order), per_slice, watch.every_cut):
                train(flat, data, order[a:b], alphas[a:b], sigmas[a:b], self._grid.coords,
                      self.neighborhood_function, self._grid.periods)
                if not watch.done(b, flat, sigmas[b - 1], alphas[b - 1]):
                    break
        self.history = watch.result()

    def _batch_epoch(self, flat, data, alpha, sigma, masked=None) -> None:
        """One batch epoch, its winner search and per-node sums over row slices of ``data``
        (the sums accumulate in row order: bitwise one call's). ``masked``: whether ``data``
        has missing values, counted per component (None: look)."""
        if masked is None:
            masked = _missing.has_missing(data)
        sums = np.zeros(flat.shape, dtype=np.float64)
        counts = np.zeros(flat.shape if masked else flat.shape[0], dtype=np.float64)
        rows = _slicing.search_rows(*flat.shape)
        for a, b in _slicing.spans(0, data.shape[0], rows):
            _missing.batch_sums(self._backend, flat, data[a:b], sums, counts)
        self._backend.batch_update(flat, sums, counts, alpha, sigma, self._grid.coords,
                                   self.neighborhood_function, self._grid.periods)

    # ------------------------------------------------------------------ initialisation
    @locked
    def random_weights_init(self, data) -> None:
        """Set each node's weights to a sample of ``data`` drawn at random (with replacement).

        Under ``nan_policy='mask'`` a drawn sample's missing components leave the node's
        current weights there (weights never hold NaN).
        """
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().random_weights_init(self, data)
        data = self._data(data)
        picks = self._rng.integers(0, data.shape[0], size=self._grid.n_nodes)
        self._set_initial_rows(data[picks])

    def _set_initial_rows(self, rows) -> None:
        """Weights from one drawn sample per node; a missing component keeps the weight."""
        rows = rows.reshape(self.x, self.y, self.input_len)
        self._weights = np.where(np.isnan(rows), self._weights, rows).astype(self.dtype)

    # ------------------------------------------------------------------ training
    @locked
    def train_random(self, data, num_iteration, *, progress=False, callback=None,
                     callback_every=None, track=None) -> None:
        """Online training: ``num_iteration`` steps, each on one sample drawn at random.

        Step ``t`` moves every node towards the sample by
        ``alpha_t * h(d(node, bmu), sigma_t) * (v - w)``. Not for Dask arrays (``TypeError``):
        use :meth:`train_batch`.

        Parameters
        ----------
        data : array-like, shape (n_samples, input_len)
        num_iteration : int
            Number of steps.
        progress : bool, keyword-only, default False
            Show a tqdm progress bar (steps, rate, time left) on stderr.
        callback : callable, keyword-only, optional
            ``callback(state)`` with a read-only :class:`~minisam.TrainingState` every
            ``callback_every`` steps and after the last; returning ``False`` stops the
            training there, keeping the weights reached.
        callback_every : int, keyword-only, optional
            Steps between checkpoints (callback and ``track``); default ``len(data)``.
        track : str or sequence of str, keyword-only, optional
            Measures to record at every checkpoint on ``data``: ``'qe'``
            (:meth:`quantization_error`) and/or ``'te'`` (:meth:`topographic_error`). The
            history is then in :attr:`history` (see there); nothing is computed otherwise.
        """
        if is_dask(data):
            raise dask_online_error("MiniSam.train_random", "MiniSam.train_batch")
        data = self._data(data)
        num_iteration = check_positive_int("num_iteration", num_iteration)
        _memory.check_fits(f"train_random({num_iteration:,} steps)", 24 * num_iteration)
        watch = self._watch(num_iteration, "step", progress, callback, callback_every, track,
                            data.shape[0], "train_random", data)
        alphas, sigmas = self._schedules(num_iteration)

        def run(flat):
            order = self._rng.integers(0, data.shape[0], size=num_iteration)
            self._online(flat, data, order, alphas, sigmas, watch)

        self._commit(run)

    @locked
    def train_epochs(self, data, num_epochs, *, progress=False, callback=None,
                     callback_every=None, track=None) -> None:
        """Online training in Sam's order: every sample, in order, once per epoch.

        The radius and learning rate decay per epoch (``lam = num_epochs / ln sigma_0``). With
        ``learning_rate=0.1`` and the default ``sigma`` this is exactly
        :func:`minisam.kohonen.train`. ``progress``, ``callback``, ``callback_every`` (in
        steps; default one epoch, ``len(data)`` steps) and ``track``: see
        :meth:`train_random`. Not for Dask arrays
        (``TypeError``): use :meth:`train_batch`.
        """
        if is_dask(data):
            raise dask_online_error("MiniSam.train_epochs", "MiniSam.train_batch")
        data = self._data(data)
        num_epochs = check_positive_int("num_epochs", num_epochs)
        n = data.shape[0]
        _memory.check_fits(f"train_epochs({num_epochs:,} epochs of {n:,} samples)",
                           24 * num_epochs * n)
        watch = self._watch(num_epochs * n, "step", progress, callback, callback_every, track,
                            n, "train_epochs", data)
        alphas, sigmas = self._schedules(num_epochs)
        order = np.tile(np.arange(n, dtype=np.int64), num_epochs)

        def run(flat):
            self._online(flat, data, order, np.repeat(alphas, n), np.repeat(sigmas, n), watch)

        self._commit(run)

    @locked
    def train_batch(self, data, num_iteration, *, progress=False, callback=None,
                    callback_every=None, track=None) -> None:
        """Batch training: ``num_iteration`` epochs, one update of the whole map per epoch.

        Each epoch assigns every sample to its best-matching unit, then sets
        ``w = (1 - alpha_t) w + alpha_t num / den`` with ``num = sum h x`` and ``den = sum h``
        over the samples. Nodes that no sample influences keep their weights.

        ``progress``, ``callback`` and ``track``: see :meth:`train_random`; here checkpoints
        fall every ``callback_every`` epochs (default 1).
        ``data`` may be a Dask array (chunked along its rows) or DataFrame: each epoch is then
        one pass over it on the active Dask scheduler (see :mod:`minisam.dask`), with the
        same result.
        """
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().train_batch(self, data, num_iteration, progress=progress,
                                       callback=callback, callback_every=callback_every,
                                       track=track)
        data = self._data(data)
        num_iteration = check_positive_int("num_iteration", num_iteration)
        watch = self._watch(num_iteration, "epoch", progress, callback, callback_every, track,
                            1, "train_batch", data)
        alphas, sigmas = self._schedules(num_iteration)
        masked = _missing.has_missing(data)

        def run(flat):
            with watch:
                for epoch, (alpha, sigma) in enumerate(zip(alphas, sigmas, strict=True)):
                    self._batch_epoch(flat, data, float(alpha), float(sigma), masked)
                    if not watch.done(epoch + 1, flat, sigma, alpha):
                        break
            self.history = watch.result()

        self._commit(run)

    # ------------------------------------------------------------------ queries
    def _search(self, flat, data, second=False):
        """Winners of ``data`` on ``flat`` in row slices: ``(index, squared distance)``, or
        ``(best, second best)`` with ``second``."""
        rows = _slicing.search_rows(*flat.shape)
        parts = [_missing.search(self._backend, flat, data[a:b], second)
                 for a, b in _slicing.spans(0, data.shape[0], rows)]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _quantization_error(self, flat, data) -> float:
        _, d2 = self._search(flat, data)
        return float(np.mean(np.sqrt(d2.astype(np.float64))))

    def _topographic_error(self, flat, data) -> float:
        if self._grid.n_nodes == 1:
            warnings.warn("The topographic error is not defined for a 1-by-1 map.",
                          RuntimeWarning, stacklevel=4)
            return float("nan")
        first, second = self._search(flat, data, second=True)
        return float(np.mean(~self._grid.adjacent(first, second)))

    @locked
    def winner(self, v) -> tuple[int, int]:
        """Grid position ``(i, j)`` of the best-matching unit of the vector ``v`` (over its
        observed features under ``nan_policy='mask'``)."""
        v = check_vector("v", v, self.input_len, self.dtype, nan_policy=self.nan_policy)
        index, _ = _missing.search(self._backend, self._flat(), v[None, :])
        return self._grid.position(index[0])

    @locked
    def quantization(self, data) -> np.ndarray:
        """Weights of each sample's best-matching unit, shape ``(n_samples, input_len)`` (a
        lazy Dask array for Dask input)."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().quantization(self, data)
        data = self._data(data)
        index, _ = self._search(self._flat(), data)
        return self._flat()[index]

    @locked
    def impute(self, data) -> np.ndarray:
        """A copy of ``data`` (the model's dtype) whose missing values (NaN) are replaced by
        the weights of each sample's best-matching unit, found over its observed features;
        observed values are returned unchanged. Needs ``nan_policy='mask'``.

        Examples
        --------
        >>> som = MiniSam(6, 6, 3, random_seed=0, nan_policy="mask")
        >>> data = np.random.default_rng(0).random((200, 3))
        >>> data[::7, 1] = np.nan
        >>> som.train_batch(data, 10)
        >>> filled = som.impute(data)
        >>> bool(np.isnan(filled).any())
        False
        """
        if self.nan_policy != "mask":
            raise ValueError("impute needs a model built with nan_policy='mask' (with the "
                             "default 'raise', data cannot hold missing values)")
        data = self._data(data)
        filled = data.copy()
        missing = np.isnan(data)
        if missing.any():
            rows = np.flatnonzero(missing.any(axis=1))
            index, _ = self._search(self._flat(), data[rows])
            filled[rows] = np.where(missing[rows], self._flat()[index], data[rows])
        return filled

    @locked
    def activation_response(self, data) -> np.ndarray:
        """How many samples each node wins, as an ``(x, y)`` int64 array."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().activation_response(self, data)
        data = self._data(data)
        index, _ = self._search(self._flat(), data)
        counts = np.bincount(index, minlength=self._grid.n_nodes)
        return counts.reshape(self.x, self.y).astype(np.int64)

    @locked
    def quantization_error(self, data) -> float:
        """Mean Euclidean distance between each sample and its best-matching unit (with
        missing values: over the observed features, scaled by ``input_len / n_observed``)."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().quantization_error(self, data)
        return self._quantization_error(self._flat(), self._data(data))

    @locked
    def topographic_error(self, data) -> float:
        """Fraction of samples whose best and second-best nodes are not adjacent.

        Nodes are adjacent when they are neighbours in the map's topology: touching,
        diagonals included, on a rectangular map; one of the six surrounding nodes on a
        hexagonal one; across the seams on a torus. Undefined (NaN, with a warning) on a
        1 x 1 map.
        """
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().topographic_error(self, data)
        return self._topographic_error(self._flat(), self._data(data))

    def distance_map(self) -> np.ndarray:
        """The U-matrix: mean Euclidean distance between each node's weights and its
        neighbours' (8 on a rectangular map, diagonals included; 6 on a hexagonal one; across
        the seams on a torus), as an ``(x, y)`` float64 array."""
        with model_lock(self):
            return self._grid.mean_neighbour_distance(self._weights)

    # ------------------------------------------------------------------ scoring and drift
    @locked
    def bmus(self, data) -> _scoring.BMUResult:
        """Each sample's best-matching unit and its distance (see README "Scoring and drift").

        Returns a :class:`~minisam._scoring.BMUResult` with, per sample, ``rows`` and
        ``cols`` (grid coordinates of the BMU), ``index`` (flat node index ``i * y + j``,
        int64) and ``distance`` (Euclidean distance to the BMU's weights, float64). Searched
        in row slices on the model's engine (never an ``n_samples x n_nodes`` matrix).
        """
        index, d2 = self._search(self._flat(), self._data(data))
        return _scoring.bmus(index, d2, self.y)

    @locked
    def set_drift_reference(self, data) -> None:
        """Record reference statistics of ``data`` for :meth:`drift`: the BMU hit histogram,
        the BMU distances (up to 10,000 quantiles) and the quantization error.

        Saved with the model (:meth:`save`). Training or re-initialising the weights
        afterwards invalidates them (:meth:`drift` then asks for a new reference).
        """
        flat, data = self._flat(), self._data(data)
        index, d2 = self._search(flat, data)
        self._drift_reference = _scoring.reference_statistics(flat, data, index, d2)

    @locked
    def drift(self, new_data, *, alpha=_scoring.DEFAULT_ALPHA, psi_threshold=None,
              qe_ratio_threshold=None) -> _scoring.DriftReport:
        """Compare ``new_data`` with the reference of :meth:`set_drift_reference`.

        Returns a :class:`~minisam._scoring.DriftReport`: the PSI between the hit
        histograms and its p-value, the Kolmogorov-Smirnov statistic and p-value on the BMU
        distances, the quantization-error ratio, and ``is_drift``: true when either p-value
        is below ``alpha / 2`` (default ``alpha=0.01``, i.e. about 1 % false alarms on data
        from the reference distribution), or the PSI exceeds ``psi_threshold``, or the QE
        ratio exceeds ``qe_ratio_threshold`` (both optional, off by default). Raises
        ``RuntimeError`` without a reference or when the weights changed since it was set.
        """
        reference = getattr(self, "_drift_reference", None)
        flat = self._flat()
        _scoring.check_reference(reference, flat, "MiniSam")
        data = self._data(new_data, "new_data")
        index, d2 = self._search(flat, data)
        return _scoring.drift_report(reference, flat, data, index, d2, alpha=alpha,
                                     psi_threshold=psi_threshold,
                                     qe_ratio_threshold=qe_ratio_threshold)

    @locked
    def _train_scheduled(self, data, alphas, sigmas, order=None, *, progress=False,
                         description="fit") -> None:
        """Training on explicit schedules (for :mod:`minisam.sklearn`): batch epochs, one
        per ``(alphas[e], sigmas[e])``, when ``order`` is None; else online steps on the
        samples ``order`` with per-step ``alphas``/``sigmas``. Same slicing, progress and
        all-or-nothing commit as the public training methods."""
        data = self._data(data)
        alphas = np.ascontiguousarray(alphas, dtype=np.float64)
        sigmas = np.ascontiguousarray(sigmas, dtype=np.float64)
        if order is None:
            watch = self._watch(len(alphas), "epoch", progress, None, None, None, 1,
                                description, data)
            masked = _missing.has_missing(data)  # then per-component sums

            def run(flat):
                with watch:
                    for epoch, (alpha, sigma) in enumerate(zip(alphas, sigmas, strict=True)):
                        self._batch_epoch(flat, data, float(alpha), float(sigma), masked)
                        watch.done(epoch + 1, flat, sigma, alpha)
                self.history = watch.result()
        else:
            order = np.ascontiguousarray(order, dtype=np.int64)
            watch = self._watch(len(order), "step", progress, None, None, None, data.shape[0],
                                description, data)

            def run(flat):
                self._online(flat, data, order, alphas, sigmas, watch)

        self._commit(run)

    @property
    def drift_reference(self) -> _scoring.DriftReference | None:
        """The statistics recorded by :meth:`set_drift_reference` (None before)."""
        return getattr(self, "_drift_reference", None)

    # ------------------------------------------------------------------ persistence
    @locked
    def save(self, path) -> None:
        """Save the model (weights, hyper-parameters, random state) to a ``.npz`` file."""
        _persistence.save(path, weights=self._weights, x=self.x, y=self.y,
                          input_len=self.input_len, sigma=self.sigma,
                          learning_rate=self.learning_rate,
                          neighborhood_function=self.neighborhood_function,
                          random_seed=self.random_seed, backend=self._requested_backend,
                          rng_state=json.dumps(self._rng.bit_generator.state),
                          topology=self.topology, toroidal=self.toroidal,
                          nan_policy=self.nan_policy, extra=self._drift_fields())

    @classmethod
    def load(cls, path: str | os.PathLike, *, backend=None, n_jobs=None) -> MiniSam:
        """Load a model written by :meth:`save` (never unpickles).

        ``backend`` overrides the saved backend choice. Raises ``ValueError`` when the file is
        not a minisam model or is damaged.
        """
        fields = _persistence.load(path)
        if backend is not None:  # the caller's arguments: their own errors, not the file's
            check_choice("backend", backend, BACKEND_NAMES)
        _check_n_jobs(n_jobs)
        try:
            model = cls(fields["x"], fields["y"], fields["input_len"], sigma=fields["sigma"],
                        learning_rate=fields["learning_rate"],
                        neighborhood_function=fields["neighborhood_function"],
                        random_seed=fields["random_seed"],
                        backend=fields["backend"] if backend is None else backend,
                        dtype=fields["weights"].dtype, n_jobs=n_jobs,
                        topology=fields["topology"], toroidal=fields["toroidal"],
                        nan_policy=fields["nan_policy"])
        except (TypeError, ValueError) as exc:  # hyper-parameters this version refuses
            raise ValueError(f"{os.fspath(path)!r}: invalid model parameters: {exc}") from exc
        weights = fields["weights"]
        if weights.shape != (model.x, model.y, model.input_len):
            raise ValueError(f"{os.fspath(path)!r}: weights have shape {weights.shape}, "
                             f"expected {(model.x, model.y, model.input_len)}")
        if not np.isfinite(weights).all():
            raise ValueError(f"{os.fspath(path)!r}: weights contain NaN or infinity")
        try:
            model._rng.bit_generator.state = json.loads(fields["rng_state"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{os.fspath(path)!r}: invalid random generator state") from exc
        model._weights = np.ascontiguousarray(weights)
        model._drift_reference = _scoring.DriftReference.from_fields(
            fields["drift"], model._grid.n_nodes, model.input_len, repr(os.fspath(path)))
        return model

    def _drift_fields(self) -> dict:
        reference = getattr(self, "_drift_reference", None)
        return {} if reference is None else reference.to_fields()
