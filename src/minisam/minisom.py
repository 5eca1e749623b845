"""``MiniSom``: a drop-in replacement for the ``minisom`` package (release 2.3.6), on minisam's
compiled kernels.

``from minisam import MiniSom`` gives the same constructor, methods, defaults, return types,
errors and warnings as ``from minisom import MiniSom``, and the same numbers for the same seed:
the initial weights, :meth:`MiniSom.random_weights_init` and the random sample order consume the
``numpy.random.RandomState`` exactly as MiniSom does, and every training method follows MiniSom's
update rule and decay schedules step by step. What changes is the speed: online training runs
all its steps in one kernel call, batch training and the quality measures search best-matching
units in chunks with compiled kernels, and nothing builds an ``n_samples x n_nodes`` matrix
(except :meth:`MiniSom._distance_from_weights`, whose purpose is to return one).

The attributes MiniSom users touch stay live: assigning ``_weights``, ``_sigma``,
``_learning_rate``, ``neighborhood``, ``_activation_distance``, the decay functions or the grids
``_xx``/``_yy``/``_neigx``/``_neigy`` takes effect on the next call. A neighbourhood, distance
or decay function the kernels do not know (a user's callable, a subclass override) runs on an
exact NumPy path instead.

Differences from MiniSom 2.3.6 are deliberate fixes, listed in the README ("Differences from
MiniSom") and in :class:`MiniSom`'s notes.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import Counter, defaultdict

import numpy as np

from minisam import _memory, _scoring, _slicing, _smoothing, reference
from minisam import _minisom_core as core
from minisam._locking import locked
from minisam._validation import check_choice, check_positive_int, dask_online_error, is_dask
from minisam.backends import BACKEND_NAMES, make_backend
from minisam.backends.compiled import NEIGHBOURHOOD_CODES, kernel_periods, skip_threshold
from minisam.topology import MINISOM_HEX_SPACING, Topology, separable_columns

__all__ = ["MiniSom", "fast_norm"]

#: MiniSom method name -> kernel neighbourhood code name (see ``NEIGHBOURHOOD_CODES``).
_KERNEL_NEIGHBOURHOODS = {
    "_gaussian": "gaussian",
    "_mexican_hat": "mexican_hat",
    "_bubble": "minisom_bubble",
    "_triangle": "triangle",
}
_DISTANCE_METHODS = {
    "_euclidean_distance": "euclidean",
    "_cosine_distance": "cosine",
    "_manhattan_distance": "manhattan",
    "_chebyshev_distance": "chebyshev",
}
_DECAY_METHODS = ("_inverse_decay_to_zero", "_linear_decay_to_zero", "_inverse_decay_to_one",
                  "_linear_decay_to_one", "_asymptotic_decay")


def fast_norm(x):
    """Euclidean norm of a 1-D array, ``sqrt(x . x)``."""
    return np.sqrt(np.dot(x, x.T))


def _dask():
    """:mod:`minisam.dask`, imported only when a Dask collection is passed in."""
    from minisam import dask as dask_support

    return dask_support


def _check_map_size(name, value) -> int:
    return check_positive_int(name, value)


def _check_real(name, value, *, positive=False) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or (positive and as_float <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def _finite_schedule(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).all())



def _name_or_callable(argument, value, choices, kind):
    """``choices[value]`` for a known name, ``value`` itself if callable; else MiniSom's error."""
    if isinstance(value, str):
        if value not in choices:
            raise ValueError(f"{value} not supported. {kind} available: {', '.join(choices)}")
        return choices[value]
    if callable(value):
        return value
    raise TypeError(f"{argument} must be one of {', '.join(choices)} or a callable, got "
                    f"{type(value).__name__}")

class MiniSom:
    """A Self-Organizing Map with MiniSom 2.3.6's interface and numbers, on compiled kernels.

    Parameters
    ----------
    x, y : int
        Map size: ``x`` rows and ``y`` columns of nodes (weights have shape ``(x, y,
        input_len)``).
    input_len : int
        Number of features of each sample.
    sigma : float, default 1
        Initial spread of the neighbourhood function; must be positive. A warning is given
        when it exceeds the map's diagonal, and (bubble, triangle) when it is not an integer
        >= 1.
    learning_rate : float, default 0.5
        Initial learning rate.
    decay_function : {'asymptotic_decay', 'inverse_decay_to_zero', 'linear_decay_to_zero'} or \
callable
        How the learning rate decays with the step ``t`` of ``T``: ``lr / (1 + 2t/T)``,
        ``lr C / (C + t)`` with ``C = T / 100``, ``lr (1 - t / T)``, or ``f(lr, t, T)``.
    neighborhood_function : {'gaussian', 'mexican_hat', 'bubble', 'triangle'}
        Influence of the winner ``c`` on node ``n``: ``exp(-|p_n - p_c|^2 / (2 sigma^2))``
        and the mexican hat on the (topology-aware) node positions; the bubble (1 where
        ``|i - c_i| < sigma`` and ``|j - c_j| < sigma``) and the triangle
        (``max(0, sigma - |i - c_i|) max(0, sigma - |j - c_j|)``) on the grid indices.
    topology : {'rectangular', 'hexagonal'}
        In the hexagonal topology every other row of nodes (fixed ``j``; the last one and every
        second one before it) is shifted by -0.5 along ``x`` and ``y`` positions are scaled by
        :attr:`Y_HEX_CONV_FACTOR`, so that the six neighbours of a node are at distance 1.
    activation_distance : {'euclidean', 'cosine', 'manhattan', 'chebyshev'} or callable
        Distance that selects the winning node; a callable ``f(x, w)`` receives one sample and
        the ``(x, y, input_len)`` weights and returns an ``(x, y)`` array.
    random_seed : int, optional
        Seed of the model's ``numpy.random.RandomState`` (initial weights,
        :meth:`random_weights_init`, random sample order).
    sigma_decay_function : {'asymptotic_decay', 'inverse_decay_to_one', 'linear_decay_to_one'}
        How ``sigma`` decays: ``s / (1 + 2t/T)``, ``s / (1 + t (s - 1) / T)``,
        ``s + t (1 - s) / T``.
    backend : {'auto', 'numpy', 'cython', 'numba'}, keyword-only, default 'auto'
        Compute engine of the kernels (not in MiniSom).
    n_jobs : int, keyword-only, optional
        Threads the kernels may use; default every CPU available (not in MiniSom). Results do
        not depend on it.
    toroidal : bool, keyword-only, default False
        Join the map's opposite edges (not in MiniSom): grid offsets are minimum images in
        every neighbourhood function, the U-matrix and the topographic error. A hexagonal
        torus needs an even ``y`` (its columns alternate the half-step shift). With the
        default the drop-in is MiniSom 2.3.6, bit for bit.

    Notes
    -----
    Differences from MiniSom 2.3.6 (each a fix; see the README):

    * ``activation_distance='chebyshev'`` is ``max |x - w|``; MiniSom computes ``max(x - w)``,
      which is not a distance and picks the wrong winners.
    * ``distance_map()`` on a hexagonal map with an even number of columns ``y`` averages over
      the six nodes that surround each node (as given by :meth:`get_euclidean_coordinates` and
      used by :meth:`topographic_error`); MiniSom uses the neighbours of the opposite row
      shift there. Maps with odd ``y`` give MiniSom's values.
    * Invalid arguments fail early: ``sigma <= 0``, non-integer or non-positive sizes, a
      ``decay_function`` or ``activation_distance`` that is neither a known name nor callable,
      empty data, data with NaN or infinity, and fixed points with non-integer coordinates
      raise ``TypeError``/``ValueError`` before any work, and a failed call leaves the weights
      and the random generator as they were. ``winner``, ``activate`` and ``update`` refuse
      NaN, infinity and vectors of the wrong length.
    * Long calls run in slices, so Ctrl-C surfaces within milliseconds and leaves the model
      as it was; calls on one model from several threads run one at a time (a lock per
      model); a process forked after training runs the kernels serially instead of hanging.
    """

    Y_HEX_CONV_FACTOR = MINISOM_HEX_SPACING

    def __init__(self, x, y, input_len, sigma=1, learning_rate=0.5,
                 decay_function='asymptotic_decay', neighborhood_function='gaussian',
                 topology='rectangular', activation_distance='euclidean', random_seed=None,
                 sigma_decay_function='asymptotic_decay', *, backend='auto', n_jobs=None,
                 toroidal=False):
        x = _check_map_size("x", x)
        y = _check_map_size("y", y)
        input_len = _check_map_size("input_len", input_len)
        _check_real("sigma", sigma, positive=True)
        _check_real("learning_rate", learning_rate)
        check_choice("backend", backend, BACKEND_NAMES)
        n_jobs = None if n_jobs is None else check_positive_int("n_jobs", n_jobs)
        if sigma > math.sqrt(x * x + y * y):
            warnings.warn("Warning: sigma might be too high for the dimension of the map.",
                          UserWarning, stacklevel=2)

        # rand, the scaled copy and the norms: about three float64 arrays of the weights' size
        _memory.check_fits(f"a {x} x {y} map of {input_len} features", 3 * 8 * x * y * input_len)
        self._random_generator = np.random.RandomState(random_seed)
        self._learning_rate = learning_rate
        self._sigma = sigma
        self._input_len = input_len
        # Initial weights: uniform in [-1, 1), each node scaled to unit length.
        weights = self._random_generator.rand(x, y, input_len) * 2 - 1
        weights /= np.linalg.norm(weights, axis=-1, keepdims=True)
        self._weights = weights
        self._activation_map = np.zeros((x, y))
        self._neigx = np.arange(x)
        self._neigy = np.arange(y)

        if topology not in ('hexagonal', 'rectangular'):
            raise ValueError(f'{topology} not supported only hexagonal and rectangular '
                             f'available')
        self.topology = topology
        self._topology = Topology(x, y, topology, toroidal, layout='minisom')
        # Node positions, stored as MiniSom stores them: arrays of shape (y, x).
        positions = self._topology.positions()
        self._xx = positions[:, :, 0].T.copy()
        self._yy = positions[:, :, 1].T.copy()
        if topology == 'hexagonal':
            if neighborhood_function == 'triangle':
                warnings.warn('triangle neighborhood function does not take in account '
                              'hexagonal topology', UserWarning, stacklevel=2)

        lr_decays = {'inverse_decay_to_zero': self._inverse_decay_to_zero,
                     'linear_decay_to_zero': self._linear_decay_to_zero,
                     'asymptotic_decay': self._asymptotic_decay}
        self._learning_rate_decay_function = _name_or_callable(
            "decay_function", decay_function, lr_decays, "Functions")

        sigma_decays = {'inverse_decay_to_one': self._inverse_decay_to_one,
                        'linear_decay_to_one': self._linear_decay_to_one,
                        'asymptotic_decay': self._asymptotic_decay}
        if not isinstance(sigma_decay_function, str) or sigma_decay_function not in sigma_decays:
            raise ValueError(f"{sigma_decay_function} not supported. Functions available: "
                             f"{', '.join(sigma_decays)}")
        self._sigma_decay_function = sigma_decays[sigma_decay_function]

        neighbourhoods = {'gaussian': self._gaussian, 'mexican_hat': self._mexican_hat,
                          'bubble': self._bubble, 'triangle': self._triangle}
        if not isinstance(neighborhood_function, str) or \
                neighborhood_function not in neighbourhoods:
            raise ValueError(f"{neighborhood_function} not supported. Functions available: "
                             f"{', '.join(neighbourhoods)}")
        if neighborhood_function in ('triangle', 'bubble') and (
                divmod(sigma, 1)[1] != 0 or sigma < 1):
            warnings.warn('sigma should be an integer >=1 when triangle or bubble are used '
                          'as neighborhood function', UserWarning, stacklevel=2)
        self.neighborhood = neighbourhoods[neighborhood_function]

        distances = {'euclidean': self._euclidean_distance, 'cosine': self._cosine_distance,
                     'manhattan': self._manhattan_distance,
                     'chebyshev': self._chebyshev_distance}
        self._activation_distance = _name_or_callable(
            "activation_distance", activation_distance, distances, "Distances")

        self._backend_name = backend
        self._n_jobs = n_jobs
        self._backend = make_backend(backend, n_jobs)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_backend", None)  # rebuilt on load (it holds library handles)
        state.pop("_lock", None)  # each model gets its own
        return state

    def __setstate__(self, state):
        if "_topology" not in state:  # pickled before toroidal maps existed: a planar map
            x_size, y_size = np.shape(state["_weights"])[:2]
            state["_topology"] = Topology(x_size, y_size, state.get("topology", "rectangular"),
                                          False, layout="minisom")
        self.__dict__.update(state)
        self._backend = make_backend(state.get("_backend_name", "auto"),
                                     state.get("_n_jobs"))

    # ------------------------------------------------------------------ MiniSom's API
    @locked
    def get_weights(self):
        """The weights, an ``(x, y, input_len)`` array (the model's own, not a copy)."""
        return self._weights

    def get_euclidean_coordinates(self):
        """Positions of the nodes in the plane, as two ``(x, y)`` arrays ``xx, yy``: node
        ``(i, j)`` sits at ``(xx[i, j], yy[i, j])`` (differs from the grid indices only on a
        hexagonal map)."""
        return self._xx.T, self._yy.T

    def convert_map_to_euclidean(self, xy):
        """Position in the plane of the node(s) at map coordinates ``xy``: a pair ``(i, j)``
        of integers (or of integer arrays, as NumPy indexes), within the map."""
        try:
            i, j = xy
        except (TypeError, ValueError) as exc:
            raise TypeError(f"xy must be a pair (i, j) of map coordinates, got {xy!r}") from exc
        for size, index in zip(self._weights.shape[:2], (i, j), strict=True):
            index = np.asarray(index)
            if index.dtype.kind not in "iu":
                raise TypeError(f"xy must hold integers, got {xy!r}")
            if index.size and not (-size <= index.min() and index.max() < size):
                raise ValueError(f"xy {xy!r} is outside the {self._weights.shape[0]} x "
                                 f"{self._weights.shape[1]} map")
        return self._xx.T[i, j], self._yy.T[i, j]

    def _activate(self, x):
        """Set :attr:`_activation_map` to the activation distance of ``x`` to every node."""
        self._activation_map = self._activation_distance(x, self._weights)

    @locked
    def activate(self, x):
        """The ``(x, y)`` map of activation distances from ``x`` to every node."""
        self._activate(self._as_sample(x))
        return self._activation_map

    # decay functions (MiniSom's names and signatures)
    def _inverse_decay_to_zero(self, learning_rate, t, max_iter):
        return core.inverse_decay_to_zero(learning_rate, t, max_iter)

    def _linear_decay_to_zero(self, learning_rate, t, max_iter):
        return core.linear_decay_to_zero(learning_rate, t, max_iter)

    def _inverse_decay_to_one(self, sigma, t, max_iter):
        return core.inverse_decay_to_one(sigma, t, max_iter)

    def _linear_decay_to_one(self, sigma, t, max_iter):
        return core.linear_decay_to_one(sigma, t, max_iter)

    def _asymptotic_decay(self, dynamic_parameter, t, max_iter):
        return core.asymptotic_decay(dynamic_parameter, t, max_iter)

    # neighbourhood functions: winner c = (i, j), result of shape (x, y)
    def _position_offsets(self, c):
        """Offsets ``(dx, dy)`` of every node's position from node ``c``'s, ``(x, y)`` arrays
        each (minimum images on a torus)."""
        px, py = self._xx.T, self._yy.T
        dx, dy = px - px[c], py - py[c]
        if self._topology.toroidal:
            wrapped = self._topology.wrap(np.stack([dx, dy], axis=-1))
            dx, dy = wrapped[..., 0], wrapped[..., 1]
        return dx, dy

    def _index_offsets(self, c):
        """``(i - c_i, j - c_j)`` along each axis (minimum images on a torus)."""
        di = self._neigx - c[0]
        dj = self._neigy - c[1]
        if self._topology.toroidal:
            di = reference.wrap_axis(di, len(self._neigx))
            dj = reference.wrap_axis(dj, len(self._neigy))
        return di, dj

    def _gaussian(self, c, sigma):
        """Gaussian centred on node ``c`` over the node positions."""
        dx, dy = self._position_offsets(c)
        d = 2 * sigma * sigma
        return np.exp(-np.power(dx, 2) / d) * np.exp(-np.power(dy, 2) / d)

    def _mexican_hat(self, c, sigma):
        """Mexican hat centred on node ``c`` over the node positions (negative far away)."""
        dx, dy = self._position_offsets(c)
        p = np.power(dx, 2) + np.power(dy, 2)
        d = 2 * sigma * sigma
        return np.exp(-p / d) * (1 - 2 / d * p)

    def _bubble(self, c, sigma):
        """1 on the nodes whose grid indices differ from ``c`` by less than ``sigma``."""
        if self._topology.toroidal:
            di, dj = self._index_offsets(c)
            return np.outer(np.abs(di) < sigma, np.abs(dj) < sigma) * 1.
        along_x = (self._neigx > c[0] - sigma) & (self._neigx < c[0] + sigma)
        along_y = (self._neigy > c[1] - sigma) & (self._neigy < c[1] + sigma)
        return np.outer(along_x, along_y) * 1.

    def _triangle(self, c, sigma):
        """``max(0, sigma - |i - c_i|) * max(0, sigma - |j - c_j|)`` on the grid indices."""
        if self._topology.toroidal:
            di, dj = self._index_offsets(c)
            along_x, along_y = sigma - np.abs(di), sigma - np.abs(dj)
        else:
            along_x = sigma - np.abs(c[0] - self._neigx)
            along_y = sigma - np.abs(c[1] - self._neigy)
        along_x = np.where(along_x < 0, 0., along_x)
        along_y = np.where(along_y < 0, 0., along_y)
        return np.outer(along_x, along_y)

    # activation distances: one sample x against the (x, y, input_len) weights w
    def _cosine_distance(self, x, w):
        return core.cosine_distance(x, w)

    def _euclidean_distance(self, x, w):
        return core.euclidean_distance(x, w)

    def _manhattan_distance(self, x, w):
        return core.manhattan_distance(x, w)

    def _chebyshev_distance(self, x, w):
        return core.chebyshev_distance(x, w)

    def _check_iteration_number(self, num_iteration):
        if isinstance(num_iteration, (bool, np.bool_)) or not isinstance(num_iteration,
                                                                          numbers.Integral):
            raise TypeError(f"num_iteration must be an integer, got "
                            f"{type(num_iteration).__name__} {num_iteration!r}")
        if num_iteration < 1:
            raise ValueError('num_iteration must be >= 1')
        return int(num_iteration)

    def _check_input_len(self, data):
        """Check that ``data`` has ``input_len`` features; return it as a float64 array."""
        return self._as_data(data)

    @locked
    def winner(self, x):
        """Map coordinates ``(i, j)`` (a tuple of NumPy integers) of the node nearest to ``x``."""
        self._activate(self._as_sample(x))
        return np.unravel_index(self._activation_map.argmin(), self._activation_map.shape)

    @locked
    def update(self, x, win, t, max_iteration):
        """One online step: move every node towards ``x`` by
        ``learning_rate(t) * neighborhood(win, sigma(t)) * (x - w)``.

        Parameters
        ----------
        x : array-like
            The sample.
        win : tuple
            Map coordinates of the winning node.
        t : int
            Step (or epoch) number that the decay functions receive.
        max_iteration : int
            Number of steps (or epochs) of the training the decay functions refer to.
        """
        x = self._as_sample(x)
        win = self._check_node("win", win)
        _check_real("t", t)
        _check_real("max_iteration", max_iteration, positive=True)
        eta = self._learning_rate_decay_function(self._learning_rate, t, max_iteration)
        sig = self._sigma_decay_function(self._sigma, t, max_iteration)
        if not (math.isfinite(eta) and math.isfinite(sig) and 2 * sig * sig > 0):
            raise ValueError(f"t and max_iteration ({t!r}, {max_iteration!r}) give a learning "
                             f"rate of {eta!r} and a sigma of {sig!r}, with which the update "
                             f"is undefined")
        g = self.neighborhood(win, sig) * eta
        self._weights += g[..., None] * (x - self._weights)

    @locked
    def quantization(self, data):
        """The weights of each sample's best-matching unit (Euclidean), ``(n, input_len)``
        (a lazy Dask array for Dask input)."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().quantization(self, data)
        data = self._as_data(data)
        flat = self._flat_weights()
        index, _ = core.euclidean_bmu(self._backend, flat, data)
        return flat[index]

    @locked
    def random_weights_init(self, data):
        """Set the weights of every node to a sample of ``data`` picked at random."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().random_weights_init(self, data)
        data = self._as_data(data)
        shape = self._activation_map.shape
        picks = [self._random_generator.randint(len(data)) for _ in range(int(np.prod(shape)))]
        self._weights[np.unravel_index(np.arange(len(picks)), shape)] = data[picks]

    @locked
    def pca_weights_init(self, data):
        """Spread the weights over the plane of the first two principal components of
        ``data``, centred on its mean (deterministic)."""
        if self._input_len == 1:
            raise ValueError('The data needs at least 2 features for pca initialization')
        data = self._as_data(data)
        if len(self._neigx) == 1 or len(self._neigy) == 1:
            warnings.warn('PCA initialization inappropriate: One of the dimensions of the '
                          'map is 1.', UserWarning, stacklevel=2)
        if len(data) < 2:
            raise ValueError("data must have at least 2 samples for pca initialization (their "
                             "covariance is undefined otherwise)")
        try:
            eigvals, eigvecs = np.linalg.eigh(np.cov(data, rowvar=False))
        except np.linalg.LinAlgError as exc:  # e.g. a covariance that overflows to inf
            raise ValueError(f"data has no principal components: {exc}") from exc
        by_variance = np.argsort(eigvals)[::-1]
        pc1 = eigvecs[:, by_variance[0]]
        pc2 = eigvecs[:, by_variance[1]]
        along_1 = np.linspace(-1, 1, len(self._neigx))[:, None, None]
        along_2 = np.linspace(-1, 1, len(self._neigy))[None, :, None]
        self._weights[...] = np.mean(data, axis=0) + along_1 * pc1 + along_2 * pc2

    def _check_fixed_points(self, fixed_points, data):
        """Validate ``{sample index: (i, j)}``; return it with plain ``int`` values."""
        checked = {}
        x_size, y_size = self._weights.shape[0], self._weights.shape[1]
        for k, position in fixed_points.items():
            if not isinstance(k, int):
                raise TypeError('fixed points indexes must be integers.')
            if k >= len(data) or k < 0:
                raise ValueError('an index of a fixed point cannot be grater than len(data) '
                                 'or less than 0.')
            try:
                i, j = position
            except (TypeError, ValueError) as exc:
                raise TypeError(f'the coordinates of fixed point {k} must be a pair (i, j), '
                                f'got {position!r}') from exc
            for value in (i, j):
                if isinstance(value, (bool, np.bool_)) or not isinstance(value,
                                                                         numbers.Integral):
                    raise TypeError(f'coordinates for fixed point {k} must be integers, got '
                                    f'{position!r}')
            if i >= x_size or j >= y_size:
                raise ValueError('coordinates for fixed point are out of boundaries.')
            if i < 0 or j < 0:
                raise ValueError('coordinates cannot be negative.')
            checked[int(k)] = (int(i), int(j))
        return checked

    @locked
    def train(self, data, num_iteration, random_order=False, verbose=False, use_epochs=False,
              fixed_points=None):
        """Online training.

        Parameters
        ----------
        data : array-like, shape (n_samples, input_len)
        num_iteration : int
            Number of steps (``use_epochs=False``) or of epochs (``use_epochs=True``, each
            presenting every sample once, ``len(data) * num_iteration`` steps in all).
        random_order : bool, default False
            Present the samples in random order (MiniSom's shuffle of ``t % len(data)``, or
            one permutation repeated every epoch) instead of cyclically.
        verbose : bool, default False
            Print progress, then the quantization error.
        use_epochs : bool, default False
            Decay the learning rate and sigma per epoch instead of per step.
        fixed_points : dict, optional
            ``{sample index: (i, j)}``: these samples always update around node ``(i, j)``
            instead of their best-matching unit.

        Not for Dask arrays (``TypeError``): use :meth:`train_batch_offline`.
        """
        if is_dask(data):
            raise dask_online_error("MiniSom.train (like train_random and train_batch)",
                                    "MiniSom.train_batch_offline")
        num_iteration = self._check_iteration_number(num_iteration)
        array = self._as_data(data)
        steps = num_iteration * (len(array) if use_epochs else 1)
        # sample order, decay arguments, learning rates and sigmas: 8 bytes each per step
        _memory.check_fits(f"{steps:,} training steps", 40 * steps)
        fixed = self._check_fixed_points(fixed_points, array) if fixed_points else {}
        state = self._random_generator.get_state()
        try:
            order = core.iteration_indexes(len(array), num_iteration,
                                           self._random_generator if random_order else None,
                                           use_epochs)
            if use_epochs:
                epochs = np.arange(num_iteration)
                etas, sigmas = self._schedules(epochs, num_iteration)
                etas = np.repeat(etas, len(array))
                sigmas = np.repeat(sigmas, len(array))
            else:
                etas, sigmas = self._schedules(np.arange(num_iteration), num_iteration)
            self._train_online(array, order, etas, sigmas, fixed, verbose)
        except BaseException:
            self._random_generator.set_state(state)
            raise
        if verbose:
            print('\n quantization error:', self.quantization_error(array))

    @locked
    def train_random(self, data, num_iteration, verbose=False):
        """Online training, ``num_iteration`` steps on samples picked in random order."""
        self.train(data, num_iteration, random_order=True, verbose=verbose)

    @locked
    def train_batch(self, data, num_iteration, verbose=False):
        """Online training, ``num_iteration`` steps on the samples in order (cyclically).

        Despite its name this is MiniSom's sequential *online* training; see
        :meth:`train_batch_offline` for the batch algorithm.
        """
        self.train(data, num_iteration, random_order=False, verbose=verbose)

    @locked
    def train_batch_offline(self, data, num_iteration, verbose=False):
        """Batch training (Kohonen's batch map, damped): one update of the whole map per
        iteration.

        Iteration ``t`` finds every sample's winner ``c(x)`` (activation distance), then sets
        ``w_n = (1 - lr_t) w_n + lr_t * sum_x h(c(x), n) x / sum_x h(c(x), n)`` for the nodes
        whose ``sum_x h(c(x), n)`` is positive (the others keep their weights), with ``h`` the
        neighbourhood at ``sigma_t``.

        ``data`` may be a Dask array (chunked along its rows) or DataFrame: each iteration is
        then one pass over it on the active Dask scheduler (see :mod:`minisam.dask`), with
        the same result.
        """
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().train_batch(self, data, num_iteration, verbose)
        num_iteration = self._check_iteration_number(num_iteration)
        array = self._as_data(data)
        self._batch_iterations(
            num_iteration, array[-1],
            lambda flat, eta, sig, it: self._batch_epoch(flat, array, eta, sig), verbose,
            lambda: self.quantization_error(array))

    def _batch_iterations(self, num_iteration, last_sample, epoch, verbose, measure) -> None:
        """The loop of :meth:`train_batch_offline` over ``epoch(flat, eta, sigma, it)`` (in
        memory or on Dask): MiniSom's schedules, progress line, the last sample's activation
        map left behind, and the final quantization error ``measure()`` when ``verbose``."""
        etas, sigmas = self._schedules(np.arange(num_iteration), num_iteration)
        progress = core.Progress(num_iteration) if verbose else None

        def run(flat):
            for it in range(num_iteration):
                if it == num_iteration - 1:  # MiniSom's last winner search leaves this map
                    last_activation = self._activation_distance(last_sample, self._weights)
                epoch(flat, float(etas[it]), float(sigmas[it]), it)
                if progress is not None:
                    progress.update(it + 1)
            return last_activation

        self._activation_map = self._commit(run)
        if verbose:
            print(f'\nQuantization Error: {measure():.4f}')

    @locked
    def distance_map(self, scaling='sum'):
        """The U-matrix: for every node, the sum (``scaling='sum'``) or mean (``'mean'``) of
        the Euclidean distances between its weights and those of its adjacent nodes, divided
        by the largest such value. Adjacent: the 8 surrounding nodes on a rectangular map, the
        6 surrounding nodes on a hexagonal one (across the seams on a torus), as the map's
        topology lists them.
        """
        if scaling not in ('sum', 'mean'):
            raise ValueError(f'scaling should be either "sum" or "mean" ("{scaling}" not '
                             f'valid)')
        w = np.asarray(self._weights, dtype=np.float64)
        if w.ndim == 2:
            w = w[..., None]
        x_size, y_size = w.shape[:2]
        flat = w.reshape(x_size * y_size, -1)
        table = self._topology.neighbours
        # Eight slots whatever the lattice (NaN where no neighbour): NumPy then sums each
        # node's distances in the same order as MiniSom does.
        um = np.full((x_size * y_size, 8), np.nan)
        for slot in range(table.shape[1]):
            nodes = np.flatnonzero(table[:, slot] >= 0)
            diff = flat[nodes] - flat[table[nodes, slot]]
            um[nodes, slot] = np.sqrt(np.einsum('nd,nd->n', diff, diff))
        um = um.reshape(x_size, y_size, 8)
        um = np.nanmean(um, axis=2) if scaling == 'mean' else np.nansum(um, axis=2)
        return um / um.max()

    @locked
    def activation_response(self, data):
        """How many samples each node wins (activation distance), an ``(x, y)`` float array."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().activation_response(self, data)
        array = self._as_data(data)
        index = self._winners(array)
        shape = self._weights.shape[:2]
        counts = np.bincount(index, minlength=int(np.prod(shape))).astype(np.float64)
        return counts.reshape(shape)

    def _distance_from_weights(self, data):
        """The full ``(n_samples, n_nodes)`` matrix of Euclidean distances (MiniSom's helper;
        it needs ``n_samples x n_nodes`` memory, which the other methods avoid)."""
        x = np.array(data)
        w = self._weights.reshape(-1, self._weights.shape[2])
        cross = np.dot(x, w.T)
        squares = -2 * cross + np.power(x, 2).sum(axis=1, keepdims=True) + \
            np.power(w, 2).sum(axis=1, keepdims=True).T
        return np.sqrt(np.maximum(0, squares))

    @locked
    def quantization_error(self, data):
        """Mean Euclidean distance between each sample and its best-matching unit."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().quantization_error(self, data)
        data = self._as_data(data)
        _, d2 = core.euclidean_bmu(self._backend, self._flat_weights(), data)
        return np.mean(np.sqrt(d2))

    @locked
    def distortion_measure(self, data):
        """``sum over samples x and nodes n of h(c(x), n) * |x - w_n|`` with ``h`` the
        neighbourhood at the initial ``sigma`` and ``c(x)`` the winner (activation distance).

        As in MiniSom, the distances are not squared.
        """
        array = self._as_data(data)
        flat = self._flat_weights()
        index = self._winners(array, flat)
        shape = self._weights.shape[:2]
        plan = self._neighbourhood_plan(np.array([self._sigma], dtype=np.float64))
        rows = core.block_rows(*flat.shape)
        total = 0
        for start in range(0, len(array), rows):
            stop = min(len(array), start + rows)
            dist = core.euclidean_block_distances(flat, array[start:stop])
            if plan is not None:
                name, coords, periods = plan
                h = reference.neighbourhood_matrix(coords[index[start:stop]], coords,
                                                   self._sigma, name, periods)
            else:
                h = np.stack([np.asarray(self.neighborhood(np.unravel_index(k, shape),
                                                           self._sigma)).reshape(-1)
                              for k in index[start:stop]])
            for value in (h * dist).sum(axis=1):
                total += value
        return total

    @locked
    def topographic_error(self, data):
        """Fraction of samples whose best and second-best nodes (Euclidean) are not adjacent:
        on a rectangular map adjacent means at most one step apart along each axis (diagonals
        included), on a hexagonal one that the nodes' positions are 1 apart (minimum images
        on a torus). NaN, with a warning, on a 1-by-1 map."""
        if is_dask(data):  # Dask: see minisam.dask
            return _dask().topographic_error(self, data)
        data = self._as_data(data)
        if int(np.prod(self._activation_map.shape)) == 1:
            warnings.warn('The topographic error is not defined for a 1-by-1 map.',
                          UserWarning, stacklevel=2)
            return np.nan
        if self.topology == 'hexagonal':
            return self._topographic_error_hexagonal(data)
        return self._topographic_error_rectangular(data)

    def _best_two(self, data):
        """Flat indices of each sample's best and second-best node (Euclidean), searched in
        row slices (see :mod:`minisam._slicing`)."""
        flat, data = self._flat_weights(), self._as_data(data)
        parts = [self._backend.top2_many(flat, data[a:b]) for a, b in
                 _slicing.spans(0, len(data), _slicing.search_rows(*flat.shape))]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _topographic_error_hexagonal(self, data):
        """Fraction of samples whose two best nodes are not 1 apart in the plane."""
        first, second = self._best_two(data)
        y_size = self._weights.shape[1]
        px, py = self._xx.T, self._yy.T
        p1 = (first // y_size, first % y_size)
        p2 = (second // y_size, second % y_size)
        dx, dy = px[p1] - px[p2], py[p1] - py[p2]
        if self._topology.toroidal:
            wrapped = self._topology.wrap(np.stack([dx, dy], axis=-1))
            dx, dy = wrapped[:, 0], wrapped[:, 1]
        gap = np.hypot(dx, dy)
        return 1 - np.mean(np.isclose(1, gap))

    def _topographic_error_rectangular(self, data):
        """Fraction of samples whose two best nodes are more than one step apart along either
        axis (diagonal neighbours count as adjacent)."""
        first, second = self._best_two(data)
        if self._topology.toroidal:
            return 1 - self._topology.adjacent(first, second).mean()
        y_size = self._weights.shape[1]
        steps = np.hypot(first // y_size - second // y_size, first % y_size - second % y_size)
        return (steps > 1.42).mean()

    def _get_euclidean_coordinates_from_index(self, index):
        """Position in the plane of the node with flat index ``index`` (``(-1, -1)`` for a
        negative index)."""
        if index < 0:
            return (-1, -1)
        y_size = self._weights.shape[1]
        return self.convert_map_to_euclidean((int(index // y_size), int(index % y_size)))

    @locked
    def win_map(self, data, return_indices=False):
        """``defaultdict(list)``: for every winning node ``(i, j)``, the samples it wins (or
        their indices with ``return_indices=True``), in data order."""
        array = self._as_data(data)
        winmap = defaultdict(list)
        for n, (position, sample) in enumerate(zip(self._winner_positions(array), data,
                                                   strict=False)):
            winmap[position].append(n if return_indices else sample)
        return winmap

    @locked
    def labels_map(self, data, labels):
        """``defaultdict``: for every winning node ``(i, j)``, a ``Counter`` of the labels of
        the samples it wins."""
        array = self._as_data(data)
        if not len(array) == len(labels):
            raise ValueError('data and labels must have the same length.')
        winmap = defaultdict(list)
        for position, label in zip(self._winner_positions(array), labels, strict=False):
            winmap[position].append(label)
        for position in winmap:
            winmap[position] = Counter(winmap[position])
        return winmap

    # ------------------------------------------------------------------ extensions
    @locked
    def bmus(self, data):
        """Each sample's best-matching unit and its Euclidean distance (not in MiniSom).

        Returns a :class:`~minisam._scoring.BMUResult`: ``rows``, ``cols`` (the ``(i, j)``
        that :meth:`winner` gives), ``index`` (flat index ``i * y + j``, int64) and
        ``distance`` (Euclidean distance to the winner's weights, float64, whatever the
        activation distance that picks the winner). Searched in row slices.
        """
        index, d2 = self._scored_winners(self._flat_weights(), self._as_data(data))
        return _scoring.bmus(index, d2, self._weights.shape[1])

    @locked
    def set_drift_reference(self, data):
        """Record reference statistics of ``data`` for :meth:`drift` (not in MiniSom); see
        :meth:`minisam.MiniSam.set_drift_reference`. Kept when the model is pickled."""
        flat, array = self._flat_weights(), self._as_data(data)
        index, d2 = self._scored_winners(flat, array)
        self._drift_reference = _scoring.reference_statistics(flat, array, index, d2)

    @locked
    def drift(self, new_data, *, alpha=_scoring.DEFAULT_ALPHA, psi_threshold=None,
              qe_ratio_threshold=None):
        """Compare ``new_data`` with the reference of :meth:`set_drift_reference` (not in
        MiniSom); see :meth:`minisam.MiniSam.drift`."""
        reference = getattr(self, "_drift_reference", None)
        flat = self._flat_weights()
        _scoring.check_reference(reference, flat, "MiniSom")
        array = self._as_data(new_data)
        index, d2 = self._scored_winners(flat, array)
        return _scoring.drift_report(reference, flat, array, index, d2, alpha=alpha,
                                     psi_threshold=psi_threshold,
                                     qe_ratio_threshold=qe_ratio_threshold)

    def _scored_winners(self, flat, array):
        """Winners under the activation distance and their squared Euclidean distances."""
        if self._distance_kind() == "euclidean":
            return core.euclidean_bmu(self._backend, flat, array)
        index = self._winners_on(flat, array)
        return index, _scoring.squared_distances(flat, array, index)

    # ------------------------------------------------------------------ internals
    def _as_data(self, data) -> np.ndarray:
        """``data`` as a C-contiguous float64 ``(n_samples, input_len)`` array, or an error."""
        try:
            array = np.asarray(data)
        except (TypeError, ValueError) as exc:  # ragged nested sequences end up here
            raise ValueError(f"data must be a rectangular array of numbers: {exc}") from exc
        if array.dtype.kind == "c":
            raise TypeError(f"data must be real-valued, got complex dtype {array.dtype}")
        core.check_data_shape(array.shape, self._input_len)
        if array.dtype.kind not in "biuf":
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TypeError(f"data must hold real numbers, got dtype {array.dtype}") from exc
        array = np.ascontiguousarray(array, dtype=np.float64)
        for start in range(0, len(array), 1 << 15):  # in blocks: no n x input_len mask
            block = array[start:start + (1 << 15)]
            if not np.isfinite(block).all():
                bad = np.argwhere(~np.isfinite(block))[0]
                raise ValueError(f"data must contain only finite values; found "
                                 f"{block[tuple(bad)]} at index ({start + int(bad[0])}, "
                                 f"{int(bad[1])})")
        return array

    def _as_sample(self, x) -> np.ndarray:
        """``x`` as a float64 vector of ``input_len`` finite values (or a scalar, which
        broadcasts over the features as in MiniSom), or a ``TypeError`` / ``ValueError``
        naming ``x`` (MiniSom computes with NaN and picks an arbitrary node)."""
        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"x must be a vector of {self._input_len} numbers: {exc}") from exc
        if array.dtype.kind == "c":
            raise TypeError(f"x must be real-valued, got complex dtype {array.dtype}")
        if array.dtype.kind not in "biuf":
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TypeError(f"x must hold real numbers, got dtype {array.dtype}") from exc
        if array.shape not in ((self._input_len,), ()):  # a scalar broadcasts, as in MiniSom
            raise ValueError(f"x must be a vector of {self._input_len} values (input_len), "
                             f"got shape {array.shape}")
        array = np.array(array, dtype=np.float64)
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array.reshape(-1)))[0])
            raise ValueError(f"x must contain only finite values; found "
                             f"{array.reshape(-1)[bad]} at index {bad}")
        return array

    def _check_node(self, name, position) -> tuple[int, int]:
        """``position`` as the map coordinates ``(i, j)`` of a node, or an error naming it."""
        try:
            i, j = position
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a pair (i, j) of map coordinates, got "
                            f"{position!r}") from exc
        for value in (i, j):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be a pair of integers, got {position!r}")
        x_size, y_size = self._weights.shape[0], self._weights.shape[1]
        if not (0 <= i < x_size and 0 <= j < y_size):
            raise ValueError(f"{name} {position!r} is outside the {x_size} x {y_size} map")
        return int(i), int(j)

    def _flat_weights(self) -> np.ndarray:
        """The weights as a C-contiguous float64 ``(n_nodes, n_features)`` array."""
        w = np.asarray(self._weights, dtype=np.float64)
        return np.ascontiguousarray(w.reshape(w.shape[0] * w.shape[1], -1))

    def _own(self, value, names) -> str | None:
        """Which of this class's methods ``names`` the bound method ``value`` is, if any."""
        if getattr(value, "__self__", None) is not self:
            return None
        func = getattr(value, "__func__", None)
        for name in names:
            if func is getattr(MiniSom, name):
                return name
        return None

    def _distance_kind(self) -> str | None:
        """'euclidean', 'cosine', ... for a built-in activation distance, else None."""
        method = self._own(self._activation_distance, _DISTANCE_METHODS)
        return None if method is None else _DISTANCE_METHODS[method]

    def _schedules(self, steps: np.ndarray, max_iter: int):
        """``(learning rates, sigmas)`` as float64 arrays for the decay arguments ``steps``."""
        def evaluate(function, initial):
            if self._own(function, _DECAY_METHODS) is not None:
                values = function(initial, steps.astype(np.float64), max_iter)
                return np.broadcast_to(np.asarray(values, dtype=np.float64),
                                       steps.shape).copy()
            return np.array([function(initial, int(t), max_iter) for t in steps],
                            dtype=np.float64)

        etas = evaluate(self._learning_rate_decay_function, self._learning_rate)
        sigmas = evaluate(self._sigma_decay_function, self._sigma)
        return etas, sigmas

    def _kernel_plan(self, etas, sigmas):
        """``(kernel neighbourhood name, node coordinates, periods)`` when the kernels can run
        the training exactly as MiniSom defines it (Euclidean winners, a built-in neighbourhood,
        finite schedules), else None."""
        if self._distance_kind() != "euclidean" or not _finite_schedule(etas):
            return None
        return self._neighbourhood_plan(sigmas)

    def _neighbourhood_plan(self, sigmas):
        """``(kernel neighbourhood name, node coordinates, periods)`` for a built-in
        neighbourhood function that the kernels evaluate as MiniSom does for these ``sigmas``,
        else None. ``periods`` is None on a planar map, else the periods of ``coords``' axes."""
        method = self._own(self.neighborhood, _KERNEL_NEIGHBOURHOODS)
        if method is None or not _finite_schedule(sigmas):
            return None
        x_size, y_size = self._weights.shape[0], self._weights.shape[1]
        name = _KERNEL_NEIGHBOURHOODS[method]
        if name in ("gaussian", "mexican_hat"):
            px, py = np.asarray(self._xx).T, np.asarray(self._yy).T
            if px.shape != (x_size, y_size) or py.shape != (x_size, y_size):
                return None
            if not (sigmas > 0).all():
                return None
            coords = np.column_stack([px.ravel(), py.ravel()]).astype(np.float64)
            periods = self._topology.periods
        else:  # bubble and triangle compare grid indices with the winner's indices
            if not (np.array_equal(self._neigx, np.arange(x_size))
                    and np.array_equal(self._neigy, np.arange(y_size))):
                return None
            ii, jj = np.meshgrid(np.arange(x_size), np.arange(y_size), indexing='ij')
            coords = np.column_stack([ii.ravel(), jj.ravel()]).astype(np.float64)
            periods = (float(x_size), float(y_size))
        return name, np.ascontiguousarray(coords), (periods if self._topology.toroidal
                                                     else None)

    def _commit(self, run):
        """Run ``run(flat)`` on a float64 working copy of the weights; on success write the
        result back into the model's weights array (in place, as MiniSom updates it) and
        return what ``run`` returned. On failure the model keeps its weights."""
        original = self._weights
        w3 = np.array(original, dtype=np.float64, order='C')
        if w3.ndim == 2:
            w3 = w3[..., None]
        flat = w3.reshape(w3.shape[0] * w3.shape[1], -1)
        self._weights = w3  # user callables that read self._weights see the live weights
        try:
            result = run(flat)
        except BaseException:
            self._weights = original
            raise
        if (isinstance(original, np.ndarray) and original.dtype == np.float64
                and original.flags.writeable and original.size == w3.size):
            original[...] = w3.reshape(original.shape)
            self._weights = original
        return result

    def _python_step(self, w3, x, fixed_win, eta, sig):
        """One online step exactly as MiniSom takes it, on the (x, y, D) weights ``w3``."""
        self._activation_map = self._activation_distance(x, w3)
        if fixed_win is None:
            win = np.unravel_index(self._activation_map.argmin(), self._activation_map.shape)
        else:
            win = fixed_win
        g = self.neighborhood(win, sig) * eta
        w3 += g[..., None] * (x - w3)

    def _train_online(self, data, order, etas, sigmas, fixed, verbose):
        """Run the online steps ``order`` (sample indices) with per-step schedules.

        Runs of ordinary steps go to the backend's kernel in slices of bounded work (see
        :mod:`minisam._slicing`; bitwise the result of one call), so that Ctrl-C and the
        progress line act between slices; steps on fixed points and the last step (whose
        activation map MiniSom leaves behind) are taken in NumPy exactly as MiniSom takes
        them. Everything runs in NumPy when the kernels cannot (user callables, other
        activation distances).
        """
        n_steps = len(order)
        if n_steps == 0:
            return
        plan = self._kernel_plan(etas, sigmas)
        metric = None if plan is not None else self._metric_plan(etas, sigmas)
        progress = core.Progress(n_steps) if verbose else None
        mark = max(1, n_steps // 100)  # verbose: the line moves at least every 1 %

        def run(flat):
            w3 = self._weights
            per_slice, run_slice = 1, None
            if plan is None and metric is None:
                specials = np.arange(n_steps)
            else:
                exact = self._needs_every_update(flat, etas)
                if plan is not None:
                    per_slice, run_slice = self._online_slices(flat, plan, exact)
                else:
                    per_slice, run_slice = self._metric_slices(flat, data, metric, exact)
                if verbose:
                    per_slice = min(per_slice, mark)
                specials = np.flatnonzero(np.isin(order, list(fixed))) if fixed else \
                    np.empty(0, dtype=np.int64)
                specials = np.append(specials[specials < n_steps - 1], n_steps - 1)
            position = 0
            for special in specials:
                for a, b in _slicing.spans(position, int(special), per_slice):
                    run_slice(flat, data, order[a:b], etas[a:b], sigmas[a:b])
                    if progress is not None:
                        progress.update(b)
                sample = int(order[special])
                self._python_step(w3, data[sample], fixed.get(sample), float(etas[special]),
                                  float(sigmas[special]))
                position = special + 1
                if progress is not None and (position % mark == 0 or position == n_steps):
                    progress.update(position)

        self._commit(run)

    @staticmethod
    def _needs_every_update(flat, etas) -> bool:
        """Whether the kernels must apply even the updates too small to change a typical
        weight (they skip those by default, see ``skip_threshold``).

        MiniSom applies them, and they can move weights near zero by an ulp. That matters only
        where nodes are exactly equal, so that rounding decides which one wins a sample: when
        nodes start out equal (``random_weights_init`` drawing a sample twice, hand-set
        weights), or when a learning rate near 1 can move several nodes onto a sample.
        """
        return bool(np.max(np.abs(etas)) >= 0.95) or core.has_duplicate_rows(flat)

    def _online_slices(self, flat, plan, exact):
        """``(steps per slice, run_slice)``: ``run_slice(flat, data, order, etas, sigmas)``
        takes consecutive online steps on the backend's kernel (``exact``: skipping no
        update), at most that many per call.

        MiniSom's gaussian goes to the kernels as the ``'tabulated'`` neighbourhood, its row
        and column factors computed here by NumPy as MiniSom computes them, so that every
        influence is bitwise MiniSom's, where ties between nodes can depend on the last bit:
        on a hexagonal map (node positions that are not a lattice) and in ``exact`` mode. The
        rectangular lattice otherwise uses the kernels' own gaussian (within an ulp, faster).
        Tabulated slices are also capped so that their tables stay near 16 MiB.
        """
        name, coords, periods = plan
        grid_y = separable_columns(coords)
        engine = core.online_kernel(self._backend)
        per_slice = _slicing.online_steps(*flat.shape, "numpy" if engine is None
                                          else engine[1].name)
        tables = None
        if name == "gaussian" and (grid_y == 0 or exact):
            tables = core.GaussianTables.for_positions(np.asarray(self._xx).T,
                                                       np.asarray(self._yy).T, periods)
        skip = 0.0 if exact else skip_threshold(np.float64)

        def contiguous(order, etas, sigmas):
            return (np.ascontiguousarray(order, dtype=np.int64),
                    np.ascontiguousarray(etas, dtype=np.float64),
                    np.ascontiguousarray(sigmas, dtype=np.float64))

        if tables is None:
            def run_slice(flat, data, order, etas, sigmas):
                if engine is None:
                    self._backend.train_online(flat, data, order, etas, sigmas, coords, name,
                                               periods)
                    return
                kernels, backend = engine
                kernels.train_online(flat, data, *contiguous(order, etas, sigmas), coords,
                                     max(grid_y, 1), NEIGHBOURHOOD_CODES[name], grid_y > 0,
                                     skip, backend._online_threads(flat),
                                     periods=kernel_periods(periods))

            return per_slice, run_slice

        def run_tabulated(flat, data, order, etas, sigmas):
            part = contiguous(order, etas, sigmas)
            step_tables = tables.tables(part[2])
            if engine is None:
                reference.train_online(flat, data, *part, coords, "tabulated", step_tables)
                return
            kernels, backend = engine
            kernels.train_online(flat, data, *part, coords, 1, NEIGHBOURHOOD_CODES["tabulated"],
                                 False, skip, backend._online_threads(flat), tables=step_tables)

        return min(per_slice, tables.steps_per_call), run_tabulated

    def _winners(self, array, flat=None) -> np.ndarray:
        """Flat index of each sample's winning node under the activation distance, exactly as
        MiniSom's ``winner`` picks it; leaves :attr:`_activation_map` as MiniSom's per-sample
        loop leaves it (the last sample's)."""
        flat = self._flat_weights() if flat is None else flat
        index = self._winners_on(flat, array)
        self._activate(array[-1])
        return index

    def _winner_positions(self, array):
        """``(i, j)`` tuples of NumPy integers of each sample's winner, as ``winner`` gives."""
        index = self._winners(array)
        ii, jj = np.unravel_index(index, self._weights.shape[:2])
        return list(zip(ii, jj, strict=True))

    def _batch_epoch(self, flat, data, eta, sig):
        """One iteration of :meth:`train_batch_offline` on the working weights ``flat``.

        Winners as MiniSom's ``winner`` picks them; per-node sums ``S_m`` and counts ``c_m`` of
        the samples each node wins; then ``num = H S``, ``den = H c`` with ``H[n, m]`` the
        neighbourhood of winner ``m`` at node ``n`` (separable products on a rectangular
        gaussian map), and MiniSom's damped update where ``den > 0``.
        """
        index = self._winners_on(flat, data)
        sums, counts = core.group_sums(data, index, flat.shape[0],
                                       compiled=self._backend_name != "numpy")
        self._batch_update(flat, sums, counts, eta, sig)

    def _batch_update(self, flat, sums, counts, eta, sig):
        """The second half of :meth:`_batch_epoch` (also the client's step of a Dask epoch):
        MiniSom's damped batch rule from the per-node sums and counts, in place."""
        x_size, y_size = self._weights.shape[0], self._weights.shape[1]
        plan = self._neighbourhood_plan(np.array([sig]))
        if plan is not None:
            name, coords, periods = plan
            _smoothing.apply_batch_rule(flat, sums, counts, eta, sig, coords, name, periods,
                                        (x_size, y_size))
            return
        occupied = np.flatnonzero(counts)
        h = np.column_stack([
            np.asarray(self.neighborhood(np.unravel_index(k, (x_size, y_size)), sig),
                       dtype=np.float64).reshape(-1) for k in occupied])
        num = h @ sums[occupied]
        den = h @ counts[occupied]
        visited = den > 0
        flat[visited] = (1 - eta) * flat[visited] + eta * (num[visited] / den[visited, None])

    def _winners_on(self, flat, data):
        """Winners of ``data`` on the weights ``flat`` under the activation distance, the
        choices (ties included) of MiniSom's ``winner``. Euclidean: the backend's search,
        with near ties settled by the exact formula; the other built-in distances: their exact
        formulas on blocks of samples; callables: called sample by sample."""
        kind = self._distance_kind()
        if kind == "euclidean":
            return core.euclidean_bmu(self._backend, flat, data)[0]
        if kind is not None:
            return core.metric_bmu(self._backend, kind, flat, data)
        w3 = flat.reshape(self._weights.shape[0], self._weights.shape[1], -1)
        return np.array([np.argmin(self._activation_distance(sample, w3)) for sample in data],
                        dtype=np.int64)

    # ------------------------------------------------------------------ other distances
    def _metric_plan(self, etas, sigmas):
        """``(distance code, kernel module, engine, tables)`` when the compiled kernels can
        run online training with the cosine, Manhattan or Chebyshev distance exactly as
        MiniSom defines it (a built-in gaussian, bubble or triangle neighbourhood, finite
        schedules), else None (the mexican hat, user callables and the NumPy backend take
        MiniSom's per-step path)."""
        kind = self._distance_kind()
        if kind not in core.METRIC_CODES or not _finite_schedule(etas):
            return None
        engine = core.metric_kernel(self._backend)
        hood = self._neighbourhood_plan(sigmas)
        if engine is None or hood is None or not hasattr(engine[0], "train_online_metric"):
            return None
        name, _, periods = hood
        x_size, y_size = self._weights.shape[0], self._weights.shape[1]
        if name == "gaussian":
            tables = core.GaussianTables.for_positions(np.asarray(self._xx).T,
                                                       np.asarray(self._yy).T, periods)
        elif name in ("minisom_bubble", "triangle"):
            tables = core.IndexTables(name, x_size, y_size, self._topology.toroidal)
        else:
            tables = None
        if tables is None:
            return None
        return core.METRIC_CODES[kind], engine[0], engine[1], tables

    def _metric_slices(self, flat, data, metric, exact):
        """``(steps per slice, run_slice)`` for online training with another distance on the
        compiled kernels (see :meth:`_online_slices`); MiniSom's neighbourhood goes to them as
        tables computed by NumPy, so influences are bitwise MiniSom's."""
        code, kernels, engine, tables = metric
        norms = core.sample_norms(data) if code == core.METRIC_CODES["cosine"] else \
            np.zeros(len(data))
        skip = 0.0 if exact else skip_threshold(np.float64)
        per_slice = min(_slicing.online_steps(*flat.shape, engine.name), tables.steps_per_call)

        def run_slice(flat, data, order, etas, sigmas):
            order = np.ascontiguousarray(order, dtype=np.int64)
            etas = np.ascontiguousarray(etas, dtype=np.float64)
            step_tables = tables.tables(np.ascontiguousarray(sigmas, dtype=np.float64))
            kernels.train_online_metric(flat, data, order, etas, norms, code, skip,
                                        engine._online_threads(flat), step_tables)

        return per_slice, run_slice
