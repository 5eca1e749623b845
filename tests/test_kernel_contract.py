"""The kernel contract of :mod:`minisam.backends.compiled`, checked for every compiled engine.

Each engine (every instruction-set variant of the Cython kernels this build has and this CPU
runs, and ``minisam._numba_kernels`` when it imports) is called directly with the contract's
arguments and compared with :mod:`minisam.reference` and with brute-force definitions.
Bounds used throughout:

* best-matching units: float64 brute force decides; where the gap between the best and the
  second-best distance is comfortable for the dtype (``conftest.GAP_RTOL``) the index must be
  exactly the float64 winner, elsewhere the chosen node's distance must be within
  ``conftest.CHOICE_RTOL`` of the minimum (float32 scores can legitimately pick another node
  of a near tie). Exact ties (duplicated weight rows) must go to the lowest index.
* ``group_sums`` is exact: samples are added in increasing order, as ``np.add.at`` does.
* ``train_online`` in float64 matches :func:`minisam.reference.train_online` (on every
  topology: rectangular and hexagonal, planar and toroidal) to
  ``rtol=1e-12, atol=1e-13`` (the kernels may evaluate the gaussian as a product of row and
  column factors and skip changes below ``skip_threshold``); in float32 it matches the float64
  reference run from the same start to ``atol=3e-5`` over 60 steps on data whose winners are
  never near ties (relative gap above 2e-4). Results are bitwise identical for 1, 2 and 3 threads.
  Every neighbourhood code is covered; the mexican hat's negative influences push weights far
  from the data, so its absolute tolerances scale with the largest weight.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import CHOICE_RTOL, GAP_RTOL, assert_bmu_valid, brute_d2, random_data
from numpy.testing import assert_allclose, assert_array_equal

from minisam import reference
from minisam._blas import find_blas, single_threaded_blas
from minisam.backends.compiled import NEIGHBOURHOOD_CODES, kernel_periods, skip_threshold
from minisam.backends.cython_backend import CythonBackend
from minisam.backends.numpy_backend import NumpyBackend

DTYPES = [np.float32, np.float64]
NEIGHBOURHOODS = [name for name in NEIGHBOURHOOD_CODES if name != "tabulated"]  # + tables: below
BLAS = find_blas()
GEMMS = ["own", pytest.param("blas", marks=pytest.mark.skipif(BLAS is None,
                                                               reason="no CBLAS found"))]


def _engines():
    """Every Cython variant this build has and this CPU runs (a wheel has several), and Numba."""
    from minisam._kernel_variants import runnable_variants

    return [*(f"cython-{variant}" for variant in runnable_variants()), "numba"]


@pytest.fixture(scope="module", params=_engines())
def kernels(request):
    """A kernel module: a Cython variant must import; Numba is skipped if it does not."""
    if request.param.startswith("cython-"):
        from minisam._kernel_variants import load_variant

        return load_variant(request.param.removeprefix("cython-"))
    try:
        return importlib.import_module("minisam._numba_kernels")
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        pytest.skip(f"minisam._numba_kernels does not import: {exc!r}")


# ----------------------------------------------------------------------------- helpers
def search(kernels, weights, data, *, gemm="own", second=False, chunk=8, n_threads=2):
    """Call ``bmu_search`` the way the driver does; return ``(index, d2, second)``."""
    n = data.shape[0]
    index = np.full(n, -7, dtype=np.int64)
    d2 = np.full(n, -1.0, dtype=weights.dtype)
    second_out = np.full(n if second else 0, -7, dtype=np.int64)
    wnorm = np.einsum("kd,kd->k", weights, weights)
    if gemm == "own":
        address, ilp64 = 0, False
    else:
        address, ilp64 = BLAS.gemm_address(weights.dtype), BLAS.ilp64
    with single_threaded_blas(BLAS):
        kernels.bmu_search(weights, wnorm, data, index, d2, second_out, chunk, n_threads,
                           address, ilp64)
    return index, d2, (second_out if second else None)


def assert_second_valid(weights, data, index, second):
    """``second`` is a valid runner-up: not the winner, and (up to rounding) the least distance
    among the other nodes; exactly the float64 runner-up where that choice is clear-cut."""
    dtype = np.dtype(weights.dtype)
    full = brute_d2(weights, data)
    n, n_nodes = full.shape
    assert second.dtype == np.int64
    if n_nodes == 1:
        assert_array_equal(second, -1)
        return
    assert ((second >= 0) & (second < n_nodes)).all()
    assert (second != index).all()
    rows = np.arange(n)
    others = full.copy()
    others[rows, index] = np.inf
    least_other = others.min(axis=1)
    assert (full[rows, second] <= least_other * (1.0 + CHOICE_RTOL[dtype]) + 1e-300).all()
    ordered = np.sort(full, axis=1)
    if n_nodes > 2:
        clear = ((ordered[:, 1] - ordered[:, 0]) > GAP_RTOL[dtype] * ordered[:, 1]) & (
            (ordered[:, 2] - ordered[:, 1]) > GAP_RTOL[dtype] * ordered[:, 2])
        _, ref_second = reference.top2_many(weights.astype(np.float64),
                                            data.astype(np.float64))
        assert_array_equal(second[clear], ref_second[clear])


def run_online(kernels, weights, data, order, alphas, sigmas, coords, neighbourhood, *,
               lattice, grid_y=1, skip=None, n_threads=1, periods=None):
    w = weights.copy()
    skip_below = skip_threshold(w.dtype) if skip is None else skip
    kernels.train_online(w, data, np.ascontiguousarray(order, dtype=np.int64),
                         np.ascontiguousarray(alphas, dtype=np.float64),
                         np.ascontiguousarray(sigmas, dtype=np.float64),
                         np.ascontiguousarray(coords, dtype=np.float64), grid_y,
                         NEIGHBOURHOOD_CODES[neighbourhood], lattice, skip_below, n_threads,
                         periods=kernel_periods(periods))
    return w


def assert_close_scaled(got, expected, rtol=1e-12, atol=1e-13):
    """``assert_allclose`` with ``atol`` relative to the largest weight (at least 1)."""
    scale = max(1.0, float(np.abs(expected).max()))
    assert_allclose(got, expected, rtol=rtol, atol=atol * scale)


def schedule(n_steps, sigma0, alpha0=0.5):
    t = np.arange(n_steps, dtype=np.float64)
    lam = n_steps / np.log(max(sigma0, 1.5))
    return alpha0 * np.exp(-t / lam), sigma0 * np.exp(-t / lam)


def min_winner_gap(weights, data, order, alphas, sigmas, coords, neighbourhood):
    """Smallest relative gap between best and second-best distance along the float64
    reference trajectory (how close the run comes to an ambiguous winner)."""
    w = weights.astype(np.float64)
    x = data.astype(np.float64)
    gap = np.inf
    for t in range(order.shape[0]):
        if w.shape[0] > 1:
            d2 = np.sort(((w - x[order[t]]) ** 2).sum(axis=1))
            gap = min(gap, (d2[1] - d2[0]) / d2[1])
        reference.train_online(w, x, order[t:t + 1], alphas[t:t + 1], sigmas[t:t + 1], coords,
                               neighbourhood)
    return gap


# ----------------------------------------------------------------------------- bmu_search
# (n_nodes, n_features, n_samples): one node, D = 1, one sample, rows around the chunk of 8,
# many samples, more features than a vector holds, nodes not a multiple of the vector width.
SEARCH_SHAPES = [(1, 3, 10), (1, 1, 1), (7, 3, 25), (5, 1, 60), (6, 4, 1), (9, 2, 7), (9, 2, 8),
                 (9, 2, 9), (33, 5, 16), (33, 5, 17), (30, 3, 1037), (12, 17, 200),
                 (257, 64, 130)]


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_nodes", "n_features", "n_samples"), SEARCH_SHAPES)
def test_bmu_search_matches_brute_force(kernels, rng, dtype, gemm, n_nodes, n_features,
                                        n_samples):
    weights = random_data(rng, n_nodes, n_features, dtype)
    data = random_data(rng, n_samples, n_features, dtype)
    index, d2, _ = search(kernels, weights, data, gemm=gemm)
    assert_bmu_valid(weights, data, index, d2)
    index2, d22, second = search(kernels, weights, data, gemm=gemm, second=True)
    assert_array_equal(index2, index)
    assert_array_equal(d22, d2)
    assert_second_valid(weights, data, index, second)


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bmu_search_independent_of_threads_and_chunk(kernels, rng, dtype, gemm):
    weights = random_data(rng, 70, 6, dtype)
    data = random_data(rng, 301, 6, dtype)
    expected = search(kernels, weights, data, gemm=gemm, second=True, chunk=8, n_threads=1)
    for chunk, n_threads in [(8, 2), (8, 3), (1, 2), (64, 2), (1000, 2)]:
        got = search(kernels, weights, data, gemm=gemm, second=True, chunk=chunk,
                     n_threads=n_threads)
        for a, b in zip(got, expected, strict=True):
            assert_array_equal(a, b)


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bmu_search_exact_ties_go_to_lowest_index(kernels, rng, dtype, gemm):
    weights = random_data(rng, 40, 5, dtype)
    copies = [3, 17, 18, 39]  # node 3 duplicated three times, across vector lanes and blocks
    for k in copies[1:]:
        weights[k] = weights[3]
    data = np.concatenate([random_data(rng, 200, 5, dtype), weights[[3, 3]]])
    index, d2, second = search(kernels, weights, data, gemm=gemm, second=True)
    assert_bmu_valid(weights, data, index, d2)
    assert not np.isin(index, copies[1:]).any()  # a duplicate never beats node 3
    assert_array_equal(index[-2:], 3)
    assert_array_equal(d2[-2:], 0)
    assert_array_equal(second[-2:], 17)  # the runner-up of an exact tie: next lowest index
    winners = index == 3
    assert_array_equal(second[winners], 17)
    # The winner's duplicates tie with it, so where another node wins, its runner-up
    # can only be node 3 among the copies.
    assert not np.isin(second[~winners], copies[1:]).any()


@pytest.mark.parametrize("gemm", GEMMS)
def test_bmu_search_all_nodes_equal(kernels, rng, gemm):
    weights = np.repeat(random_data(rng, 1, 4), 21, axis=0)
    data = random_data(rng, 30, 4)
    index, _, second = search(kernels, weights, data, gemm=gemm, second=True)
    assert_array_equal(index, 0)
    assert_array_equal(second, 1)


# ----------------------------------------------------------------------------- group_sums
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_samples", "n_features", "n_nodes"),
                         [(1, 1, 1), (0, 3, 4), (50, 3, 7), (5000, 8, 37), (3000, 17, 500)])
def test_group_sums_exact_and_thread_independent(kernels, rng, dtype, n_samples, n_features,
                                                 n_nodes):
    data = random_data(rng, n_samples, n_features, dtype) * 100 - 50
    index = rng.integers(0, max(1, n_nodes // 2), size=n_samples) * 2  # every other node empty
    index = np.minimum(index, n_nodes - 1).astype(np.int64)
    expected_sums = np.zeros((n_nodes, n_features))
    np.add.at(expected_sums, index, data.astype(np.float64))
    expected_counts = np.bincount(index, minlength=n_nodes).astype(np.float64)
    for n_threads in (1, 2, 3):
        sums = np.zeros((n_nodes, n_features))
        counts = np.zeros(n_nodes)
        kernels.group_sums(data, index, sums, counts, n_threads)
        assert_array_equal(sums, expected_sums)  # same additions in the same order
        assert_array_equal(counts, expected_counts)


# ----------------------------------------------------------------------------- train_online
GRIDS = [(1, 1), (1, 7), (7, 1), (5, 6), (9, 12)]


@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS)
@pytest.mark.parametrize(("x", "y"), GRIDS)
@pytest.mark.parametrize("n_features", [1, 3, 11])
def test_train_online_float64_matches_reference(kernels, rng, neighbourhood, x, y, n_features):
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, n_features)
    data = random_data(rng, 40, n_features)
    order = rng.integers(0, 40, size=150)
    alphas, sigmas = schedule(150, max(x, y) / 2 + 1)
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, coords, neighbourhood)
    results = []
    for skip in (None, 0.0):
        for n_threads in (1, 2, 3):
            got = run_online(kernels, weights, data, order, alphas, sigmas, coords,
                             neighbourhood, lattice=True, grid_y=y, skip=skip,
                             n_threads=n_threads)
            assert_close_scaled(got, expected)
            results.append(got)
        for got in results[-2:]:
            assert_array_equal(got, results[-3])  # identical for any thread count


def _non_lattice_coords(rng, x, y, how):
    coords = reference.grid_coordinates(x, y)
    if how == "shuffled":
        return coords[rng.permutation(x * y)]
    if how == "scaled":
        return coords * 0.75 + np.array([0.3, -2.1])
    if how == "hexagonal":
        return np.column_stack([coords[:, 0] * np.sqrt(3) / 2,
                                coords[:, 1] + 0.5 * (coords[:, 0] % 2)])
    return coords  # the lattice itself, passed as plain coordinates


@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS)
@pytest.mark.parametrize("how", ["shuffled", "scaled", "hexagonal", "lattice"])
@pytest.mark.parametrize(("x", "y"), [(1, 1), (3, 1), (11, 13)])
def test_train_online_float64_arbitrary_coords(kernels, rng, neighbourhood, how, x, y):
    coords = _non_lattice_coords(rng, x, y, how)
    weights = random_data(rng, x * y, 4)
    data = random_data(rng, 30, 4)
    order = rng.integers(0, 30, size=120)
    alphas, sigmas = schedule(120, max(x, y) / 2 + 1)
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, coords, neighbourhood)
    runs = [run_online(kernels, weights, data, order, alphas, sigmas, coords, neighbourhood,
                       lattice=False, skip=skip, n_threads=n_threads)
            for skip in (None, 0.0) for n_threads in (1, 2)]
    for got in runs:
        assert_close_scaled(got, expected)
    assert_array_equal(runs[1], runs[0])
    assert_array_equal(runs[3], runs[2])


@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS)
@pytest.mark.parametrize(("x", "y", "n_features", "lattice"),
                         [(1, 7, 3, True), (7, 1, 2, True), (6, 10, 3, True), (5, 7, 20, True),
                          (6, 10, 3, False)])
def test_train_online_float32(kernels, rng, neighbourhood, x, y, n_features, lattice):
    coords = reference.grid_coordinates(x, y)
    if not lattice:
        coords = coords * 0.9
    n_steps = 60
    for _attempt in range(20):  # draw a run whose winners are never near ties in float64
        weights = random_data(rng, x * y, n_features, np.float32)
        data = random_data(rng, 25, n_features, np.float32)
        order = rng.integers(0, 25, size=n_steps)
        alphas, sigmas = schedule(n_steps, max(x, y) / 2 + 1)
        if neighbourhood == "triangle":  # its peak is sigma^2: keep steps below the sample
            alphas = alphas / sigmas ** 2
        if min_winner_gap(weights, data, order, alphas, sigmas, coords, neighbourhood) > 2e-4:
            break
    else:
        pytest.fail("could not draw test data without near ties")
    expected = weights.astype(np.float64)
    reference.train_online(expected, data.astype(np.float64), order, alphas, sigmas, coords,
                           neighbourhood)
    runs = [run_online(kernels, weights, data, order, alphas, sigmas, coords, neighbourhood,
                       lattice=lattice, grid_y=y, n_threads=n_threads) for n_threads in (1, 2)]
    for got in runs:
        assert got.dtype == np.float32
        assert_close_scaled(got, expected, rtol=0, atol=3e-5)
    assert_array_equal(runs[1], runs[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_online_larger_map_thread_independent(kernels, rng, dtype):
    """A map with many rows and padded blocks, every schedule regime, 1 vs 2 vs 3 threads."""
    x, y, n_features = 23, 21, 5
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, n_features, dtype)
    data = random_data(rng, 50, n_features, dtype)
    order = rng.integers(0, 50, size=400)
    alphas, sigmas = schedule(400, 12.0)
    for neighbourhood in NEIGHBOURHOODS:
        runs = [run_online(kernels, weights, data, order, alphas, sigmas, coords, neighbourhood,
                           lattice=True, grid_y=y, n_threads=n) for n in (1, 2, 3)]
        assert_array_equal(runs[1], runs[0])
        assert_array_equal(runs[2], runs[0])
        if dtype == np.float64:
            expected = weights.copy()
            reference.train_online(expected, data, order, alphas, sigmas, coords, neighbourhood)
            assert_close_scaled(runs[0], expected)


def test_train_online_no_steps_and_tiny_influence(kernels, rng):
    coords = reference.grid_coordinates(4, 5)
    weights = random_data(rng, 20, 3)
    data = random_data(rng, 6, 3)
    empty = np.empty(0)
    got = run_online(kernels, weights, data, np.empty(0, np.int64), empty, empty, coords,
                     "gaussian", lattice=True, grid_y=5)
    assert_array_equal(got, weights)
    # Learning rate below the skip threshold: nothing may change.
    order = np.arange(6)
    got = run_online(kernels, weights, data, order, np.full(6, 1e-18), np.full(6, 2.0), coords,
                     "gaussian", lattice=True, grid_y=5)
    assert_array_equal(got, weights)


def test_train_online_exact_tie_winner_is_lowest_index(kernels, rng):
    """Nodes with identical weights tie exactly: the lowest index wins and alone moves."""
    x, y = 6, 6
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, 3)
    copies = [7, 20, 35]  # far apart on the grid and in different rows and vector lanes
    weights[copies] = weights[7]
    data = weights[[7]] + 0.01
    others = np.delete(np.arange(x * y), copies)
    assert ((weights[others] - data) ** 2).sum(axis=1).min() > 4 * 3e-4  # the tie is the best
    order = np.zeros(3, dtype=np.int64)
    alphas, sigmas = np.full(3, 0.5), np.full(3, 0.7)  # bubble of radius 0.7: the winner only
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, coords, "bubble")
    for n_threads in (1, 2):
        got = run_online(kernels, weights, data, order, alphas, sigmas, coords, "bubble",
                         lattice=True, grid_y=y, n_threads=n_threads)
        assert_allclose(got, expected, rtol=1e-15, atol=0)
        assert_array_equal(got[copies[1:]], weights[copies[1:]])
        assert not np.array_equal(got[7], weights[7])


def test_reference_minisom_neighbourhoods_from_definitions():
    """The neighbourhood codes 2-4, written out from MiniSom's definitions."""
    offsets = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, -2.0], [1.0, 1.0], [2.0, -1.0],
                        [3.0, 0.5], [-0.5, 0.0]])
    for sigma in (0.5, 1.0, 1.5, 2.0):
        c = 2 * sigma * sigma
        for (dx, dy), hat, box, tri in zip(
                offsets, reference.influence(offsets, sigma, "mexican_hat"),
                reference.influence(offsets, sigma, "minisom_bubble"),
                reference.influence(offsets, sigma, "triangle"), strict=True):
            p = dx * dx + dy * dy
            assert hat == pytest.approx(np.exp(-p / c) * (1 - 2 / c * p), rel=1e-15, abs=1e-300)
            assert box == float(abs(dx) < sigma and abs(dy) < sigma)  # open square
            assert tri == pytest.approx(max(0, sigma - abs(dx)) * max(0, sigma - abs(dy)),
                                        rel=1e-15)
    # the mexican hat goes negative beyond d2 = sigma^2; the bubble excludes its boundary
    assert reference.influence(np.array([2.0, 0.0]), 1.0, "mexican_hat") < 0
    assert reference.influence(np.array([1.0, 0.0]), 1.0, "minisom_bubble") == 0.0
    h = reference.neighbourhood_matrix(reference.grid_coordinates(3, 4),
                                       reference.grid_coordinates(3, 4)[[0, 5]], 1.7,
                                       "triangle")
    assert h.shape == (12, 2)
    assert h[5, 1] == pytest.approx(1.7 ** 2)


@pytest.mark.parametrize("lattice", [True, False])
def test_train_online_applies_negative_influences(kernels, rng, lattice):
    """Mexican-hat influences below zero push nodes away: they must not be skipped."""
    x, y = 7, 7
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, 2)
    data = np.array([[0.5, 0.5]])
    order = np.zeros(1, dtype=np.int64)
    alphas, sigmas = np.array([0.3]), np.array([1.0])
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, coords, "mexican_hat")
    got = run_online(kernels, weights, data, order, alphas, sigmas, coords, "mexican_hat",
                     lattice=lattice, grid_y=y)
    assert_allclose(got, expected, rtol=1e-14, atol=1e-15)
    before = np.linalg.norm(weights - data, axis=1)
    after = np.linalg.norm(got - data, axis=1)
    assert (after > before + 1e-3).sum() >= 4  # the ring around the winner moved away


def _random_tables(rng, x, y, n_steps, hexagonal):
    """Tables for the 'tabulated' code: factors in (0, 1], codes as MiniSom's layouts give."""
    xpos = (2 * np.repeat(np.arange(x), y)).astype(np.int64)
    if hexagonal:
        xpos -= np.tile(np.arange(y) % 2, x)
    ypos = np.tile(np.arange(y, dtype=np.int64), x)
    ycode = np.abs(np.arange(y)[:, None] - np.arange(y)[None, :]).astype(np.int64)
    xtab = rng.random((n_steps, 2 * x + 1))
    ytab = rng.random((n_steps, y))
    return xtab, ytab, xpos, ypos, ycode


@pytest.mark.parametrize("hexagonal", [False, True])
@pytest.mark.parametrize(("x", "y", "n_features"), [(1, 1, 2), (4, 6, 3), (9, 7, 12)])
def test_train_online_tabulated_matches_reference(kernels, rng, hexagonal, x, y, n_features):
    n_steps = 80
    tables = _random_tables(rng, x, y, n_steps, hexagonal)
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, n_features)
    data = random_data(rng, 30, n_features)
    order = rng.integers(0, 30, size=n_steps)
    alphas = np.full(n_steps, 0.4)
    sigmas = np.ones(n_steps)
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, coords, "tabulated", tables)
    runs = []
    for lattice in (False, True):  # the flag cannot change a tabulated neighbourhood
        for n_threads in (1, 2, 3):
            w = weights.copy()
            kernels.train_online(w, data, order.astype(np.int64), alphas, sigmas, coords, y,
                                 NEIGHBOURHOOD_CODES["tabulated"], lattice,
                                 skip_threshold(np.float64), n_threads, tables=tables)
            assert_allclose(w, expected, rtol=1e-12, atol=1e-13)
            runs.append(w)
    for w in runs[1:]:
        assert_array_equal(w, runs[0])


def test_train_online_tabulated_gaussian_equals_gaussian(kernels, rng):
    """Tables holding exp(-dx^2 / 2 sigma^2) and exp(-dy^2 / 2 sigma^2) give the gaussian."""
    x, y, n_steps = 6, 5, 100
    _, _, xpos, ypos, ycode = _random_tables(rng, x, y, n_steps, False)
    alphas, sigmas = schedule(n_steps, 3.0)
    d = (2 * sigmas * sigmas)[:, None]
    xtab = np.exp(-((np.arange(2 * x + 1) / 2) ** 2)[None, :] / d)
    ytab = np.exp(-(np.arange(y) ** 2)[None, :] / d)
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, 4)
    data = random_data(rng, 20, 4)
    order = rng.integers(0, 20, size=n_steps).astype(np.int64)
    got = weights.copy()
    kernels.train_online(got, data, order, alphas, sigmas, coords, 1,
                         NEIGHBOURHOOD_CODES["tabulated"], False, 0.0, 1,
                         tables=(xtab, ytab, xpos, ypos, ycode))
    expected = run_online(kernels, weights, data, order, alphas, sigmas, coords, "gaussian",
                          lattice=True, grid_y=y, skip=0.0)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def test_train_online_tabulated_refuses_bad_tables(kernels, rng):
    x, y = 3, 4
    tables = _random_tables(rng, x, y, 5, False)
    weights = random_data(rng, x * y, 2)
    data = random_data(rng, 4, 2)
    args = (data, np.zeros(5, dtype=np.int64), np.ones(5), np.ones(5),
            reference.grid_coordinates(x, y), 1, NEIGHBOURHOOD_CODES["tabulated"], False, 0.0,
            1)
    xtab, ytab, xpos, ypos, ycode = tables
    bad = [(xtab[:2], ytab, xpos, ypos, ycode), (xtab[:, :3], ytab, xpos, ypos, ycode),
           (xtab, ytab[:, :1], xpos, ypos, ycode), (xtab, ytab, xpos[:-1], ypos, ycode),
           (xtab, ytab, xpos, ypos + 1, ycode)]
    for tables_ in bad:
        with pytest.raises(ValueError):
            kernels.train_online(weights.copy(), *args, tables=tables_)


@pytest.mark.parametrize("n_features", [3, 7, 8, 9, 16, 37, 64, 129, 300])
def test_online_winner_is_numpys_norm_argmin(kernels, rng, n_features):
    """The online step's winner is exactly ``np.argmin(np.linalg.norm(v - w, axis=1))``: the
    squared differences are summed in NumPy's pairwise order, and nodes whose rounded
    Euclidean distances are equal tie (lowest index wins) even if their squared distances
    differ in the last bit. Nodes holding permutations of one vector are at the same distance
    from the origin in exact arithmetic, so rounding alone separates them."""
    n_nodes = 12
    coords = reference.grid_coordinates(n_nodes, 1)
    data = np.zeros((1, n_features))
    order = np.zeros(1, dtype=np.int64)
    checked = 0
    for _trial in range(40):
        base = rng.normal(size=n_features) * 10.0 ** rng.integers(-3, 4, size=n_features)
        weights = np.stack([rng.permutation(base) for _ in range(n_nodes)])
        expected = int(np.argmin(np.linalg.norm(data[0] - weights, axis=1)))
        checked += expected != int(np.argmin(np.einsum("kd,kd->k", weights, weights)))
        got = run_online(kernels, weights, data, order, np.array([0.5]), np.array([0.5]), coords,
                         "bubble", lattice=True, grid_y=1, skip=0.0)
        moved = np.flatnonzero((got != weights).any(axis=1))
        assert_array_equal(moved, [expected])
    if n_features >= 8:
        assert checked > 0  # the summation order did matter in some trials


# ----------------------------------------------------------------------------- Cython only
def test_cython_kernels_refuse_out_of_bounds_arguments(rng):
    """Not part of the contract (kernels trust the driver), but the Cython kernels check what
    would otherwise make them read or write out of bounds."""
    from minisam import _cython_kernels as ck

    weights = random_data(rng, 5, 3)
    with pytest.raises(ValueError):
        search(ck, weights, random_data(rng, 4, 2))
    with pytest.raises(IndexError):
        ck.group_sums(random_data(rng, 3, 3), np.array([0, 5, 1]), np.zeros((5, 3)),
                      np.zeros(5), 1)
    coords = reference.grid_coordinates(5, 1)
    with pytest.raises(IndexError):
        run_online(ck, weights, random_data(rng, 2, 3), np.array([0, 2]), np.ones(2),
                   np.ones(2), coords, "gaussian", lattice=True, grid_y=1)
    with pytest.raises(ValueError):
        run_online(ck, weights, random_data(rng, 2, 3), np.array([0, 1]), np.ones(2),
                   np.ones(2), coords, "gaussian", lattice=True, grid_y=2)
    with pytest.raises(ValueError, match="neighbourhood code"):
        ck.train_online(weights, random_data(rng, 2, 3), np.array([0, 1]), np.ones(2),
                        np.ones(2), coords, 1, 5, True, 0.0, 1)


# ----------------------------------------------------------------------------- CythonBackend
@pytest.mark.parametrize("use_blas", [False, pytest.param(True, marks=pytest.mark.skipif(
    BLAS is None, reason="no CBLAS found"))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cython_backend_queries_match_numpy_backend(rng, dtype, use_blas):
    weights = random_data(rng, 48, 5, dtype)
    data = random_data(rng, 333, 5, dtype)
    backend = CythonBackend(n_threads=2)
    backend.use_blas = use_blas
    assert (backend._gemm(weights.dtype)[0] != 0) == use_blas
    index, d2 = backend.bmu_many(weights, data)
    assert_bmu_valid(weights, data, index, d2)
    ref_index, ref_d2 = NumpyBackend().bmu_many(weights, data)
    full = brute_d2(weights, data)
    ordered = np.sort(full, axis=1)
    clear = (ordered[:, 1] - ordered[:, 0]) > GAP_RTOL[np.dtype(dtype)] * ordered[:, 1]
    assert_array_equal(index[clear], ref_index[clear])
    assert_allclose(d2, ref_d2, rtol=10 * CHOICE_RTOL[np.dtype(dtype)])
    first, second = backend.top2_many(weights, data)
    assert_array_equal(first, index)
    assert_second_valid(weights, data, first, second)


@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
def test_cython_backend_training_matches_numpy_backend(rng, neighbourhood):
    x, y, n_features = 8, 9, 4
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, n_features)
    data = random_data(rng, 200, n_features)
    order = rng.integers(0, 200, size=300)
    alphas, sigmas = schedule(300, 4.5)
    expected = weights.copy()
    NumpyBackend().train_online(expected, data, order, alphas, sigmas, coords, neighbourhood)
    got = weights.copy()
    CythonBackend(n_threads=2).train_online(got, data, order, alphas, sigmas, coords,
                                            neighbourhood)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    # Forcing the threaded path changes nothing.
    threaded = CythonBackend(n_threads=2)
    threaded.online_parallel_min_size = 0
    assert threaded._online_threads(weights) == 2
    assert CythonBackend(n_threads=1)._online_threads(weights) == 1
    forced = weights.copy()
    threaded.train_online(forced, data, order, alphas, sigmas, coords, neighbourhood)
    assert_array_equal(forced, got)

    expected = weights.copy()
    got = weights.copy()
    for alpha, sigma in [(0.5, 3.0), (0.3, 1.5), (0.1, 0.8)]:
        NumpyBackend().batch_epoch(expected, data, alpha, sigma, coords, neighbourhood)
        CythonBackend(n_threads=2).batch_epoch(got, data, alpha, sigma, coords, neighbourhood)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def test_cython_backend_thread_threshold():
    backend = CythonBackend(n_threads=2)
    small = np.zeros((4, 3))
    big = np.zeros((backend.online_parallel_min_size, 1))
    assert backend._online_threads(small) == 1
    assert backend._online_threads(big) == 2
    assert CythonBackend(n_threads=1)._online_threads(big) == 1


# ----------------------------------------------------------------------------- topologies
# (lattice, toroidal, x, y): odd and even sizes, 1 x N and N x 1, tori of size 2 along an axis.
TOPOLOGY_MAPS = [
    ("rectangular", True, 5, 6), ("rectangular", True, 2, 7), ("rectangular", True, 7, 2),
    ("rectangular", True, 1, 9), ("rectangular", True, 9, 1), ("rectangular", True, 2, 3),
    ("hexagonal", False, 5, 6), ("hexagonal", False, 6, 5), ("hexagonal", False, 1, 9),
    ("hexagonal", False, 9, 1), ("hexagonal", False, 2, 2),
    ("hexagonal", True, 6, 5), ("hexagonal", True, 2, 7), ("hexagonal", True, 4, 2),
    ("hexagonal", True, 8, 1), ("hexagonal", True, 2, 2),
]


def _map_id(case):
    lattice, toroidal, x, y = case
    return f"{lattice[:3]}{'-torus' if toroidal else ''}-{x}x{y}"


@pytest.mark.parametrize("case", TOPOLOGY_MAPS, ids=_map_id)
@pytest.mark.parametrize("neighbourhood", NEIGHBOURHOODS)
@pytest.mark.parametrize("lattice_path", [True, False])
def test_train_online_topologies_float64(kernels, rng, case, neighbourhood, lattice_path):
    """Every topology, both the separable-lattice path and node-by-node coordinates."""
    from minisam.topology import Topology

    lattice, toroidal, x, y = case
    grid = Topology(x, y, lattice, toroidal)
    periods = grid.periods if toroidal else None
    weights = random_data(rng, x * y, 3)
    data = random_data(rng, 30, 3)
    order = rng.integers(0, 30, size=120)
    alphas, sigmas = schedule(120, max(x, y) / 2 + 1)
    expected = weights.copy()
    reference.train_online(expected, data, order, alphas, sigmas, grid.coords, neighbourhood,
                           periods=periods)
    runs = [run_online(kernels, weights, data, order, alphas, sigmas, grid.coords,
                       neighbourhood, lattice=lattice_path, grid_y=y, skip=skip,
                       n_threads=n_threads, periods=periods)
            for skip in (None, 0.0) for n_threads in (1, 2)]
    for got in runs:
        assert_close_scaled(got, expected)
    assert_array_equal(runs[1], runs[0])  # identical for any thread count
    assert_array_equal(runs[3], runs[2])


@pytest.mark.parametrize("case", [("rectangular", True, 6, 9), ("hexagonal", False, 7, 6),
                                  ("hexagonal", True, 6, 9)], ids=_map_id)
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
def test_train_online_topologies_float32(kernels, rng, case, neighbourhood):
    from minisam.topology import Topology

    lattice, toroidal, x, y = case
    grid = Topology(x, y, lattice, toroidal)
    periods = grid.periods if toroidal else None
    n_steps = 60
    for _attempt in range(20):  # draw a run whose winners are never near ties in float64
        weights = random_data(rng, x * y, 3, np.float32)
        data = random_data(rng, 25, 3, np.float32)
        order = rng.integers(0, 25, size=n_steps)
        alphas, sigmas = schedule(n_steps, max(x, y) / 2 + 1)
        w = weights.astype(np.float64)
        gap = np.inf
        for t in range(n_steps):  # the float64 trajectory's closest call
            d2 = np.sort(((w - data[order[t]].astype(np.float64)) ** 2).sum(axis=1))
            gap = min(gap, (d2[1] - d2[0]) / d2[1])
            reference.train_online(w, data.astype(np.float64), order[t:t + 1],
                                   alphas[t:t + 1], sigmas[t:t + 1], grid.coords,
                                   neighbourhood, periods=periods)
        if gap > 2e-4:
            break
    else:
        pytest.fail("could not draw test data without near ties")
    runs = [run_online(kernels, weights, data, order, alphas, sigmas, grid.coords,
                       neighbourhood, lattice=True, grid_y=y, n_threads=n, periods=periods)
            for n in (1, 2)]
    for got in runs:
        assert got.dtype == np.float32
        assert_close_scaled(got, w, rtol=0, atol=3e-5)
    assert_array_equal(runs[1], runs[0])


def test_train_online_torus_moves_nodes_across_the_seam(kernels, rng):
    """A winner in a corner of a torus pulls the nodes of the opposite edges, a planar map's
    not; the tie between the winner's copies on both sides of the seam goes to the lowest."""
    x, y = 6, 8
    coords = reference.grid_coordinates(x, y)
    weights = random_data(rng, x * y, 2) + 5.0
    data = np.array([[0.0, 0.0]])
    weights[0] = data[0] + 0.01  # node (0, 0) wins
    order = np.zeros(1, dtype=np.int64)
    alphas, sigmas = np.array([0.5]), np.array([1.0])
    for toroidal in (False, True):
        periods = (float(x), float(y)) if toroidal else None
        got = run_online(kernels, weights, data, order, alphas, sigmas, coords, "bubble",
                         lattice=True, grid_y=y, periods=periods)
        moved = np.flatnonzero((got != weights).any(axis=1))
        expected = [0, 1, y] + ([y - 1, (x - 1) * y] if toroidal else [])
        assert sorted(moved) == sorted(expected)
