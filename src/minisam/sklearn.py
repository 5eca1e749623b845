"""``SelfOrganizingMap``: a scikit-learn estimator over :class:`minisam.MiniSam`.

Needs the ``sklearn`` extra (``pip install "minisam[sklearn]"``); ``import minisam`` does not
import scikit-learn, only ``import minisam.sklearn`` does.

The estimator follows scikit-learn's conventions: ``__init__`` stores its arguments, ``fit``
validates them and the data, learned attributes end in ``_``, ``random_state`` makes fits
reproducible, and it passes ``sklearn.utils.estimator_checks``. It is a transformer:
``transform`` gives each sample's distance to every node (as ``KMeans.transform`` gives the
distance to every centre), ``predict`` its best-matching unit's flat index and
:meth:`SelfOrganizingMap.predict_coordinates` its grid coordinates.

Default training: the batch map (Kohonen's batch SOM) from a PCA initialisation: each of
``n_epochs=10`` epochs sets every node to the neighbourhood-weighted mean of the samples
(learning rate 1, no damping), with the radius decaying exponentially from
``max(n_rows, n_columns) / 2`` to 1. It needs no learning-rate tuning and converges in about
10 epochs, where batch training with a decaying learning rate needs about 30 (see README,
"scikit-learn").
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from minisam import _scoring
from minisam._validation import (
    check_choice,
    check_dtype,
    check_flag,
    check_positive_int,
    check_positive_real,
)
from minisam.som import NEIGHBOURHOOD_FUNCTIONS, MiniSam
from minisam.topology import LATTICES

__all__ = ["SelfOrganizingMap"]

MODES = ("batch", "online")
SCHEDULES = ("exponential", "linear")
INITS = ("pca", "random")
NAN_POLICIES = ("raise", "mask")

def _schedule(start: float, end: float, n: int, kind: str) -> np.ndarray:
    """``n`` values from ``start`` to ``end`` (both included), exponentially or linearly."""
    if n == 1:
        return np.array([start], dtype=np.float64)
    t = np.arange(n, dtype=np.float64) / (n - 1)
    if kind == "linear" or start == end:
        return start + (end - start) * t
    return start * (end / start) ** t


def _check_columns(X, dtype: np.dtype):
    """Refuse what scikit-learn's conversion would lose or garble: a non-numeric column
    (named) and integers too large for ``dtype``. DataFrames are checked column by column."""
    limit = 2 ** (np.finfo(dtype).nmant + 1)
    columns = getattr(X, "columns", None)
    dtypes = getattr(X, "dtypes", None)
    if columns is not None and dtypes is not None and hasattr(dtypes, "__iter__"):
        for name, column_dtype in zip(columns, dtypes, strict=False):
            kind = getattr(column_dtype, "kind", "O")
            if kind not in "biuf":
                raise ValueError(f"column {name!r} has dtype {column_dtype}, which is not "
                                 f"numeric; SelfOrganizingMap needs numbers (encode it first, "
                                 f"e.g. with OneHotEncoder)")
            if kind in "iu":
                values = X[name].dropna() if hasattr(X[name], "dropna") else X[name]
                if len(values) and max(abs(int(values.min())), abs(int(values.max()))) > limit:
                    raise ValueError(f"column {name!r} holds integers larger than {limit} in "
                                     f"magnitude, which {dtype} cannot represent exactly")
        return
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu" and X.size:
        if max(abs(int(X.min())), abs(int(X.max()))) > limit:
            raise ValueError(f"X holds integers larger than {limit} in magnitude, which "
                             f"{dtype} cannot represent exactly")


class SelfOrganizingMap(TransformerMixin, BaseEstimator):
    """Self-Organizing Map as a scikit-learn transformer.

    Parameters
    ----------
    n_rows, n_columns : int, default 10
        Map size: ``n_rows`` x ``n_columns`` nodes.
    topology : {'rectangular', 'hexagonal'}, default 'rectangular'
        Lattice of the nodes (see :class:`minisam.MiniSam`).
    toroidal : bool, default False
        Join opposite edges of the map (a torus).
    neighborhood_function : {'gaussian', 'bubble'}, default 'gaussian'
    mode : {'batch', 'online'}, default 'batch'
        ``'batch'``: one update of the whole map per epoch (each node becomes the
        neighbourhood-weighted mean of the samples, damped by the learning rate);
        ``'online'``: one update per sample.
    n_epochs : int, default 10
        Passes over the data (batch: epochs; online: each sample once per epoch, in an
        order shuffled by ``random_state``).
    n_iterations : int, optional
        Online only: train on this many samples drawn at random (with replacement)
        instead of ``n_epochs`` passes.
    sigma : float, optional
        Initial neighbourhood radius; default ``max(n_rows, n_columns) / 2``.
    sigma_final : float, default 1.0
        Radius of the last epoch (batch) or step (online).
    sigma_schedule : {'exponential', 'linear'}, default 'exponential'
        How the radius goes from ``sigma`` to ``sigma_final``.
    learning_rate : float, optional
        Initial learning rate; default 1.0 in batch mode (the undamped batch map), 0.5 in
        online mode and for :meth:`partial_fit`.
    learning_rate_final : float, optional
        Final learning rate; default: ``learning_rate`` in batch mode (constant), 0.01 in
        online mode and for :meth:`partial_fit`.
    learning_rate_schedule : {'exponential', 'linear'}, default 'linear'
        How the learning rate goes from ``learning_rate`` to ``learning_rate_final``.
    init : {'pca', 'random'}, default 'pca'
        Initial weights: a plane spanned by the data's first two principal components
        (deterministic; nodes at ``mean +- 2 sd`` along each), or randomly drawn samples.
    nan_policy : {'raise', 'mask'}, default 'raise'
        Missing values: refuse them, or ignore them in distances (see
        :class:`minisam.MiniSam`; needs a minisam with missing-value support).
    dtype : numpy.float32 or numpy.float64, default numpy.float64
        Floating-point type of the weights.
    backend : {'auto', 'numpy', 'cython', 'numba'}, default 'auto'
        Compute engine.
    n_jobs : int, optional
        Threads of the compiled kernels; default every CPU available.
    random_state : int, RandomState instance or None, default None
        Seeds the initialisation (``init='random'``) and the online sample order.
    verbose : bool, default False
        Show a progress bar while fitting.

    Attributes
    ----------
    weights_ : ndarray of shape (n_rows, n_columns, n_features_in_)
        The fitted weights.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame ``X`` (only when they are all strings).
    quantization_error_ : float
        Mean distance of the training samples to their best-matching units.
    topographic_error_ : float
        Fraction of training samples whose two best nodes are not adjacent (NaN on 1 x 1).
    n_iter_ : int
        Epochs (batch) or steps (online, and summed over :meth:`partial_fit` calls) run.
    """

    def __init__(self, n_rows=10, n_columns=10, *, topology="rectangular", toroidal=False,
                 neighborhood_function="gaussian", mode="batch", n_epochs=10,
                 n_iterations=None, sigma=None, sigma_final=1.0, sigma_schedule="exponential",
                 learning_rate=None, learning_rate_final=None, learning_rate_schedule="linear",
                 init="pca", nan_policy="raise", dtype=np.float64, backend="auto",
                 n_jobs=None, random_state=None, verbose=False):
        self.n_rows = n_rows
        self.n_columns = n_columns
        self.topology = topology
        self.toroidal = toroidal
        self.neighborhood_function = neighborhood_function
        self.mode = mode
        self.n_epochs = n_epochs
        self.n_iterations = n_iterations
        self.sigma = sigma
        self.sigma_final = sigma_final
        self.sigma_schedule = sigma_schedule
        self.learning_rate = learning_rate
        self.learning_rate_final = learning_rate_final
        self.learning_rate_schedule = learning_rate_schedule
        self.init = init
        self.nan_policy = nan_policy
        self.dtype = dtype
        self.backend = backend
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ scikit-learn glue
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.nan_policy == "mask"
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object's may be the live __dict__
        state.pop("_som", None)  # holds library handles; rebuilt from weights_ on load
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "weights_" in self.__dict__:
            self._som = self._build(self.weights_.shape[2], None)
            self._som._weights = np.array(self.weights_, dtype=self._som.dtype, order="C")

    # ------------------------------------------------------------------ validation
    def _check_params(self, online: bool) -> dict:
        """The checked hyper-parameters, with the defaults of ``online`` or batch training."""
        p = {
            "n_rows": check_positive_int("n_rows", self.n_rows),
            "n_columns": check_positive_int("n_columns", self.n_columns),
            "topology": check_choice("topology", self.topology, LATTICES),
            "toroidal": check_flag("toroidal", self.toroidal),
            "neighborhood_function": check_choice("neighborhood_function",
                                                  self.neighborhood_function,
                                                  NEIGHBOURHOOD_FUNCTIONS),
            "mode": check_choice("mode", self.mode, MODES),
            "n_epochs": check_positive_int("n_epochs", self.n_epochs),
            "sigma_schedule": check_choice("sigma_schedule", self.sigma_schedule, SCHEDULES),
            "learning_rate_schedule": check_choice("learning_rate_schedule",
                                                   self.learning_rate_schedule, SCHEDULES),
            "init": check_choice("init", self.init, INITS),
            "nan_policy": check_choice("nan_policy", self.nan_policy, NAN_POLICIES),
            "dtype": check_dtype("dtype", self.dtype),
            "verbose": check_flag("verbose", self.verbose),
        }
        if self.n_iterations is not None:
            p["n_iterations"] = check_positive_int("n_iterations", self.n_iterations)
            if p["mode"] != "online":
                raise ValueError("n_iterations is for mode='online'; batch training runs "
                                 "n_epochs epochs")
        else:
            p["n_iterations"] = None
        p["sigma"] = (max(p["n_rows"], p["n_columns"]) / 2.0 if self.sigma is None
                      else check_positive_real("sigma", self.sigma))
        p["sigma_final"] = check_positive_real("sigma_final", self.sigma_final)
        online = online or p["mode"] == "online"
        p["learning_rate"] = ((0.5 if online else 1.0) if self.learning_rate is None
                              else check_positive_real("learning_rate", self.learning_rate))
        if self.learning_rate_final is None:
            p["learning_rate_final"] = min(0.01, p["learning_rate"]) if online \
                else p["learning_rate"]
        else:
            p["learning_rate_final"] = check_positive_real("learning_rate_final",
                                                           self.learning_rate_final)
        return p

    def _validate(self, X, reset: bool, dtype):
        _check_columns(X, dtype)
        mask = self.nan_policy == "mask"
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                             ensure_all_finite="allow-nan" if mask else True,
                             ensure_min_samples=1, order="C")

    def _build(self, n_features: int, seed) -> MiniSam:
        p = self._check_params(online=False)
        extra = {"nan_policy": p["nan_policy"]}
        return MiniSam(p["n_rows"], p["n_columns"], n_features, sigma=p["sigma"],
                       learning_rate=p["learning_rate"],
                       neighborhood_function=p["neighborhood_function"], random_seed=seed,
                       backend=self.backend, dtype=p["dtype"], n_jobs=self.n_jobs,
                       topology=p["topology"], toroidal=p["toroidal"], **extra)

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _initialise(self, som: MiniSam, X: np.ndarray, init: str) -> None:
        if init == "random":
            som.random_weights_init(X[~np.isnan(X).any(axis=1)] if np.isnan(X).any() else X)
            return
        som._weights = _pca_weights(np.asarray(X, dtype=np.float64), som.node_positions()
                                    ).astype(som.dtype)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Train the map on ``X`` (``y`` is ignored) and return ``self``."""
        p = self._check_params(online=False)
        X = self._validate(X, reset=True, dtype=p["dtype"])
        seed = self._seed()
        som = self._build(X.shape[1], seed)
        self._initialise(som, X, p["init"])
        n = X.shape[0]
        if p["mode"] == "batch":
            steps = p["n_epochs"]
            order = None
        else:
            rng = np.random.default_rng(seed)
            if p["n_iterations"] is not None:
                steps = p["n_iterations"]
                order = rng.integers(0, n, size=steps)
            else:
                steps = p["n_epochs"] * n
                order = np.concatenate([rng.permutation(n) for _ in range(p["n_epochs"])])
        sigmas = _schedule(p["sigma"], p["sigma_final"], steps, p["sigma_schedule"])
        alphas = _schedule(p["learning_rate"], p["learning_rate_final"], steps,
                           p["learning_rate_schedule"])
        som._train_scheduled(X, alphas, sigmas, order, progress=p["verbose"],
                             description="SelfOrganizingMap.fit")
        self._finish(som, X, steps)
        # partial_fit after fit continues at the schedules' final values
        self._n_partial_fits = p["n_epochs"]
        self._stream_seed = seed
        return self

    def partial_fit(self, X, y=None):
        """Train on one chunk of a stream: an online pass over ``X`` (shuffled).

        Call ``k`` (from 0) uses the part ``k / n_epochs`` to ``(k + 1) / n_epochs`` of the
        online schedules (radius from ``sigma`` to ``sigma_final``, learning rate from
        ``learning_rate`` to ``learning_rate_final``), and their final values once ``k >=
        n_epochs``: ``n_epochs`` chunks are one online fit of ``n_epochs`` epochs. The
        first call initialises the weights from its chunk (``init``); calls after
        :meth:`fit` continue from the fitted map at the final values.
        """
        p = self._check_params(online=True)
        first = not hasattr(self, "weights_")
        X = self._validate(X, reset=first, dtype=p["dtype"])
        if first:
            seed = self._seed()
            som = self._build(X.shape[1], seed)
            self._initialise(som, X, p["init"])
            self._stream_seed = seed
            self._n_partial_fits = 0
            done = 0
        else:
            som = self._model()
            done = self.n_iter_
        k = getattr(self, "_n_partial_fits", p["n_epochs"])
        n = X.shape[0]
        rng = np.random.default_rng([getattr(self, "_stream_seed", 0), k])
        order = rng.permutation(n)
        epochs = p["n_epochs"]
        position = np.minimum((k + (np.arange(n) + 0.5) / n) / epochs, 1.0)
        sigmas = _at(p["sigma"], p["sigma_final"], position, p["sigma_schedule"])
        alphas = _at(p["learning_rate"], p["learning_rate_final"], position,
                     p["learning_rate_schedule"])
        som._train_scheduled(X, alphas, sigmas, order, progress=p["verbose"],
                             description="SelfOrganizingMap.partial_fit")
        self._finish(som, X, done + n)
        self._n_partial_fits = k + 1
        return self

    def _finish(self, som: MiniSam, X: np.ndarray, n_iter: int) -> None:
        self._som = som
        self.weights_ = som.get_weights()
        self.quantization_error_ = som.quantization_error(X)
        if som.x * som.y > 1:
            self.topographic_error_ = som.topographic_error(X)
        else:
            self.topographic_error_ = float("nan")
        self.n_iter_ = int(n_iter)

    def _model(self) -> MiniSam:
        check_is_fitted(self, "weights_")
        return self._som

    # ------------------------------------------------------------------ queries
    def _checked(self, X):
        som = self._model()
        return som, self._validate(X, reset=False, dtype=som.dtype)

    def predict(self, X):
        """Flat index (``i * n_columns + j``, int64) of each sample's best-matching unit."""
        som, X = self._checked(X)
        return som.bmus(X).index

    def predict_coordinates(self, X):
        """Grid coordinates of each sample's best-matching unit: an ``(n_samples, 2)`` int64
        array of ``(row, column)``."""
        som, X = self._checked(X)
        result = som.bmus(X)
        return np.column_stack([result.rows, result.cols])

    def bmus(self, X) -> _scoring.BMUResult:
        """Each sample's best-matching unit: ``rows``, ``cols``, ``index`` and Euclidean
        ``distance`` (see :meth:`minisam.MiniSam.bmus`)."""
        som, X = self._checked(X)
        return som.bmus(X)

    def transform(self, X):
        """Euclidean distance of each sample to every node, an ``(n_samples, n_rows *
        n_columns)`` float64 array (columns in flat node order, as ``predict`` numbers
        them; with ``nan_policy='mask'`` over the observed features, scaled by
        ``n_features / n_observed``)."""
        som, X = self._checked(X)
        weights = som.get_weights().reshape(-1, X.shape[1]).astype(np.float64)
        return _distances(np.asarray(X, dtype=np.float64), weights)

    def score(self, X, y=None):
        """Negative quantization error of ``X`` (higher is better)."""
        som, X = self._checked(X)
        return -float(som.quantization_error(X))

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` columns: ``node_<row>_<column>``."""
        check_is_fitted(self, "weights_")
        _check_feature_names_in(self, input_features, generate_names=False)
        rows, columns = self.weights_.shape[:2]
        return np.asarray([f"node_{i}_{j}" for i in range(rows) for j in range(columns)],
                          dtype=object)

    def to_minisam(self) -> MiniSam:
        """A :class:`minisam.MiniSam` with the fitted weights (to save it, monitor drift, or
        use the rest of minisam's API)."""
        som = self._model()
        copy = self._build(som.input_len, som.random_seed)
        copy._weights = som.get_weights()
        return copy


def _at(start: float, end: float, position: np.ndarray, kind: str) -> np.ndarray:
    """A schedule from ``start`` to ``end`` evaluated at ``position`` in [0, 1]."""
    if kind == "linear" or start == end:
        return start + (end - start) * position
    return start * (end / start) ** position


def _distances(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Euclidean distances of every row of ``X`` to every node, in blocks of rows;
    NaN entries are left out and the sum scaled by ``n_features / n_observed``."""
    n, d = X.shape
    out = np.empty((n, weights.shape[0]), dtype=np.float64)
    w2 = np.einsum("kd,kd->k", weights, weights)
    rows = max(1, (1 << 22) // max(1, weights.shape[0] + d))
    for start in range(0, n, rows):
        block = X[start:start + rows]
        missing = np.isnan(block)
        if missing.any():
            observed = (~missing).astype(np.float64)
            filled = np.where(missing, 0.0, block)
            d2 = (np.einsum("nd,nd->n", filled, filled)[:, None] - 2.0 * filled @ weights.T
                  + observed @ (weights * weights).T)
            with np.errstate(divide="ignore", invalid="ignore"):
                d2 *= d / observed.sum(axis=1)[:, None]
        else:
            d2 = (np.einsum("nd,nd->n", block, block)[:, None] - 2.0 * block @ weights.T
                  + w2[None, :])
        out[start:start + rows] = np.sqrt(np.maximum(d2, 0.0))
    return out


def _pca_weights(X: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Nodes on the plane of the data's first two principal components: node positions
    (``(rows, columns, 2)``) scaled to [-1, 1] along each map axis, the longer axis on the
    first component, times twice the components' standard deviations, around the mean.
    Missing values are replaced by their column's mean first."""
    rows, columns = positions.shape[:2]
    mean = np.nanmean(X, axis=0) if np.isnan(X).any() else X.mean(axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    centred = np.where(np.isnan(X), 0.0, X - mean)
    weights = np.broadcast_to(mean, (rows, columns, X.shape[1])).copy()
    n_components = min(2, X.shape[1], X.shape[0] - 1)
    if n_components < 1:
        return weights
    if X.shape[1] <= X.shape[0]:  # eigenvectors of the scatter matrix: d x d work
        values, vectors = np.linalg.eigh(centred.T @ centred)
        top = np.argsort(-values, kind="stable")[:n_components]
        singular, axes = np.sqrt(np.maximum(values[top], 0.0)), vectors[:, top].T
    else:  # fewer samples than features: the SVD's right singular vectors
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        singular, axes = singular[:n_components], axes[:n_components]
    sd = singular / np.sqrt(max(X.shape[0] - 1, 1))
    grid = positions.reshape(-1, 2).astype(np.float64)
    span = grid.max(axis=0) - grid.min(axis=0)
    unit = np.where(span > 0, (grid - grid.min(axis=0)) / np.where(span > 0, span, 1) * 2 - 1,
                    0.0)
    order = np.argsort(-span, kind="stable")  # the longer map axis takes component 1
    flat = weights.reshape(-1, X.shape[1])
    for c in range(n_components):
        flat += np.outer(unit[:, order[c]] * 2.0 * sd[c], axes[c])
    return weights

