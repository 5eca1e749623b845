"""Missing values (``nan_policy='mask'``): the reference's masked formulas against their
definitions, every engine's masked kernels against the reference, and the API's behaviour.

Expected values are written here from the definitions (sums over observed features, updates
of observed components, per-component batch denominators), independently of the code.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import random_data, snapshot
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, reference
from minisam.backends import available_backends, make_backend
from minisam.topology import Topology

ENGINES = [name for name in ("cython", "numba") if name in available_backends()]
DTYPES = [np.float32, np.float64]
#: Fractions of missing entries; 'all-but-one' leaves one observed feature per row.
MISSING = [0.0, 0.1, 0.9, "all-but-one"]
TOPOLOGIES = [("rectangular", False), ("rectangular", True), ("hexagonal", False),
              ("hexagonal", True)]
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def with_gaps(rng, data, missing):
    """A copy of ``data`` with entries set to NaN, every row keeping one observed feature."""
    data = data.copy()
    n, d = data.shape
    if missing == "all-but-one":
        gaps = np.ones((n, d), dtype=bool)
    else:
        gaps = rng.random((n, d)) < missing
    keep = rng.integers(0, d, size=n)
    gaps[np.arange(n), keep] = False
    data[gaps] = np.nan
    return data


def brute_masked_d2(weights, data):
    """``(n, K)`` squared distances over each row's observed features, by the definition."""
    out = np.zeros((data.shape[0], weights.shape[0]))
    for i, x in enumerate(np.asarray(data, dtype=np.float64)):
        seen = ~np.isnan(x)
        diff = x[seen][None, :] - np.asarray(weights, dtype=np.float64)[:, seen]
        out[i] = (diff * diff).sum(axis=1)
    return out


def coords_of(x, y, lattice, toroidal):
    grid = Topology(x, y, lattice, toroidal)
    return grid.coords, grid.periods


# ------------------------------------------------------------------------ reference definitions
@pytest.mark.parametrize("missing", MISSING)
def test_reference_masked_search_is_the_definition(rng, missing):
    weights = random_data(rng, 13, 6)
    data = with_gaps(rng, random_data(rng, 40, 6), missing)
    full = brute_masked_d2(weights, data)
    index, d2 = reference.masked_bmu_many(weights, data)
    assert_array_equal(index, np.argmin(full, axis=1))
    assert_allclose(d2, full.min(axis=1), rtol=1e-12)
    first, second = reference.masked_top2_many(weights, data)
    order = np.argsort(full, axis=1, kind="stable")
    assert_array_equal(first, order[:, 0])
    assert_array_equal(second, order[:, 1])


def test_reference_masked_search_without_gaps_is_the_dense_search(rng):
    weights = random_data(rng, 9, 4)
    data = random_data(rng, 30, 4)
    assert_array_equal(reference.masked_bmu_many(weights, data)[0],
                       reference.bmu_many(weights, data)[0])


def test_reference_masked_online_step_moves_observed_components_only(rng):
    weights = random_data(rng, 6, 4)
    coords, _ = coords_of(2, 3, "rectangular", False)
    v = np.array([0.2, np.nan, 0.9, np.nan])
    expected = weights.copy()
    seen = ~np.isnan(v)
    b = int(np.argmin(((weights[:, seen] - v[seen]) ** 2).sum(axis=1)))
    h = np.exp(-((coords - coords[b]) ** 2).sum(axis=1) / (2 * 1.5 ** 2))
    expected[:, seen] += 0.4 * h[:, None] * (v[seen] - weights[:, seen])
    reference.masked_train_online(weights, v[None, :], np.array([0]), np.array([0.4]),
                                  np.array([1.5]), coords, "gaussian")
    assert_allclose(weights, expected, rtol=1e-14)
    assert_array_equal(weights[:, ~seen], expected[:, ~seen])


def test_reference_masked_batch_divides_each_component_by_its_own_count(rng):
    """SOM Toolbox's rule: S = H (P X0), A = H (P M), w = S / A; per component."""
    weights = random_data(rng, 6, 3)
    coords, _ = coords_of(2, 3, "rectangular", False)
    data = with_gaps(rng, random_data(rng, 50, 3), 0.3)
    index, _ = reference.masked_bmu_many(weights, data)
    p = np.zeros((6, 50))
    p[index, np.arange(50)] = 1.0
    seen = ~np.isnan(data)
    h = reference.neighbourhood_matrix(coords, coords, 1.2, "gaussian")
    s = h @ (p @ np.where(seen, data, 0.0))
    a = h @ (p @ seen.astype(float))
    sums = np.zeros((6, 3))
    counts = np.zeros((6, 3))
    reference.masked_batch_sums(weights, data, sums, counts)
    out = weights.copy()
    reference.batch_update(out, sums, counts, 1.0, 1.2, coords, "gaussian")
    assert_allclose(out, s / a, rtol=1e-12)


# ------------------------------------------------------------------------ kernels vs reference
def masked_case(rng, dtype, n, k, d, missing):
    weights = random_data(rng, k, d, dtype)
    data = np.ascontiguousarray(with_gaps(rng, random_data(rng, n, d), missing), dtype=dtype)
    return weights, data


SHAPES = [(200, 37, 5), (1, 4, 3), (60, 1, 4), (80, 12, 1), (150, 25, 64)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("missing", MISSING)
@pytest.mark.parametrize(("n", "k", "d"), SHAPES)
def test_masked_search_and_sums_match_reference(engine, rng, dtype, missing, n, k, d):
    weights, data = masked_case(rng, dtype, n, k, d, missing)
    full = brute_masked_d2(weights, data)
    backend = make_backend(engine, 2)
    index, d2 = backend.masked_bmu_many(weights, data)
    ref_index, _ = reference.masked_bmu_many(weights, data)
    best = full.min(axis=1)
    chosen = full[np.arange(n), index]
    # The winner is the reference's unless two nodes are within rounding of each other.
    assert (chosen <= best * (1 + 10 * RTOL[np.dtype(dtype)]) + 1e-30).all()
    clear = np.sort(full, axis=1)[:, min(1, k - 1)] - best > 1e-3 * (best + 1e-12)
    assert_array_equal(index[clear | (k == 1)], ref_index[clear | (k == 1)])
    assert d2.dtype == dtype
    assert_allclose(np.asarray(d2, dtype=np.float64), chosen, rtol=10 * RTOL[np.dtype(dtype)],
                    atol=1e-30)
    first, second = backend.masked_top2_many(weights, data)
    assert_array_equal(first, index)
    if k == 1:
        assert_array_equal(second, -1)
    else:
        assert (second != first).all()
    sums = np.zeros((k, d))
    counts = np.zeros((k, d))
    backend.masked_batch_sums(weights, data, sums, counts)
    ref_sums = np.zeros((k, d))
    ref_counts = np.zeros((k, d))
    seen = ~np.isnan(data)
    np.add.at(ref_sums, index, np.where(seen, data, 0.0).astype(np.float64))
    np.add.at(ref_counts, index, seen.astype(np.float64))
    assert_allclose(sums, ref_sums, rtol=1e-12)
    assert_array_equal(counts, ref_counts)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_search_exact_ties_go_to_lowest_index(engine, rng, dtype):
    weights = random_data(rng, 10, 4, dtype)
    weights[[3, 7]] = weights[5]
    data = np.repeat(weights[5][None, :], 6, axis=0).copy()
    data[:, [0, 2]] = np.nan  # the tie also holds over the observed features
    index, _ = make_backend(engine, 2).masked_bmu_many(weights, data)
    assert_array_equal(index, 3)
    # Nodes that differ only in a missing feature are equally near: the scores' rounding
    # (|w|^2 includes the missing feature) may pick either, at the exact distance 0.
    weights[8] = weights[5]
    weights[8, 0] += 0.5
    index, d2 = make_backend(engine, 2).masked_bmu_many(weights, data[:1])
    assert index[0] in (3, 8) and d2[0] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_kernels_do_not_depend_on_threads(engine, rng, dtype):
    weights, data = masked_case(rng, dtype, 3000, 64, 16, 0.1)
    results = []
    for threads in (1, 2, 3):
        backend = make_backend(engine, threads)
        index, d2 = backend.masked_bmu_many(weights, data)
        sums = np.zeros((64, 16))
        counts = np.zeros((64, 16))
        backend.masked_batch_sums(weights, data, sums, counts)
        results.append((index, d2, sums, counts))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("missing", MISSING)
@pytest.mark.parametrize(("lattice", "toroidal"), TOPOLOGIES)
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
def test_masked_online_matches_reference(engine, rng, dtype, missing, lattice, toroidal,
                                         neighbourhood):
    x, y, d = 4, 5, 6
    weights, data = masked_case(rng, dtype, 30, x * y, d, missing)
    coords, periods = coords_of(x, y, lattice, toroidal)
    steps = 25
    order = rng.integers(0, 30, size=steps)
    alphas = np.linspace(0.5, 0.05, steps)
    sigmas = np.linspace(2.5, 0.8, steps)
    expected = weights.copy()
    got = weights.copy()
    reference.masked_train_online(expected, data, order, alphas, sigmas, coords, neighbourhood,
                                  periods)
    make_backend(engine, 2).masked_train_online(got, data, order, alphas, sigmas, coords,
                                                neighbourhood, periods)
    assert_allclose(got, expected, rtol=20 * RTOL[np.dtype(dtype)], atol=1e-6
                    if dtype == np.float32 else 1e-13)
    assert not np.isnan(got).any()


@pytest.mark.parametrize("engine", ENGINES)
def test_masked_online_one_node_and_one_feature(engine, rng):
    weights = random_data(rng, 1, 1)
    data = random_data(rng, 5, 1)
    expected = weights.copy()
    got = weights.copy()
    coords, periods = coords_of(1, 1, "rectangular", False)
    args = (data, np.arange(5), np.full(5, 0.3), np.full(5, 1.0), coords, "gaussian", periods)
    reference.masked_train_online(expected, *args)
    make_backend(engine, 1).masked_train_online(got, *args)
    assert_allclose(got, expected, rtol=1e-14)


# ------------------------------------------------------------------------ the API
def gappy(rng, n=300, d=5, missing=0.2):
    return with_gaps(rng, random_data(rng, n, d), missing)


def test_default_policy_refuses_nan_and_names_the_option(rng):
    data = gappy(rng)
    som = MiniSam(3, 3, 5, random_seed=0)
    with pytest.raises(ValueError, match="nan_policy='mask'"):
        som.train_batch(data, 2)


def test_nan_policy_is_checked():
    with pytest.raises(ValueError, match="nan_policy"):
        MiniSam(2, 2, 2, nan_policy="ignore")
    with pytest.raises(TypeError, match="nan_policy"):
        MiniSam(2, 2, 2, nan_policy=None)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_mask_still_refuses_infinity(rng, value):
    data = gappy(rng)
    data[4, 2] = value
    som = MiniSam(3, 3, 5, random_seed=0, nan_policy="mask")
    before = snapshot(som)
    with pytest.raises(ValueError, match="infinity.*index \\(4, 2\\)"):
        som.train_random(data, 10)
    assert_array_equal(som.get_weights(), before[0])


@pytest.mark.parametrize("method", ["train_random", "train_batch", "train_epochs",
                                    "quantization_error", "impute", "random_weights_init"])
def test_row_with_nothing_observed_is_refused_before_any_work(rng, method):
    data = gappy(rng)
    data[17] = np.nan
    som = MiniSam(3, 3, 5, random_seed=0, nan_policy="mask")
    weights, state = snapshot(som)
    args = (data, 3) if method.startswith("train") else (data,)
    with pytest.raises(ValueError, match="row 17 has no observed value"):
        getattr(som, method)(*args)
    assert_array_equal(som.get_weights(), weights)
    assert som._rng.bit_generator.state == state


def test_winner_vector_with_nothing_observed_is_refused():
    som = MiniSam(3, 3, 2, random_seed=0, nan_policy="mask")
    with pytest.raises(ValueError, match="v has no observed value"):
        som.winner([np.nan, np.nan])


@pytest.mark.parametrize("backend", ["numpy", *ENGINES])
@pytest.mark.parametrize(("lattice", "toroidal"), TOPOLOGIES)
def test_training_with_gaps_on_every_engine_agrees_and_never_writes_nan(rng, backend, lattice,
                                                                         toroidal):
    data = gappy(rng, missing=0.3)
    kwargs = dict(random_seed=3, nan_policy="mask", topology=lattice, toroidal=toroidal)
    som = MiniSam(4, 6, 5, backend=backend, **kwargs)
    oracle = MiniSam(4, 6, 5, backend="numpy", **kwargs)
    for model in (som, oracle):
        model.train_batch(data, 4)
        model.train_random(data, 400)
    assert not np.isnan(som.get_weights()).any()
    assert_allclose(som.get_weights(), oracle.get_weights(), rtol=1e-9, atol=1e-11)
    assert som.quantization_error(data) == pytest.approx(oracle.quantization_error(data),
                                                         rel=1e-9)


@pytest.mark.parametrize("backend", ["numpy", *ENGINES])
def test_dense_data_under_mask_is_the_dense_model(rng, backend):
    data = random_data(rng, 200, 4)
    masked = MiniSam(4, 4, 4, random_seed=1, backend=backend, nan_policy="mask")
    dense = MiniSam(4, 4, 4, random_seed=1, backend=backend)
    for model in (masked, dense):
        model.train_batch(data, 3)
        model.train_random(data, 200)
    assert_array_equal(masked.get_weights(), dense.get_weights())
    assert masked.quantization_error(data) == dense.quantization_error(data)


@pytest.mark.parametrize("backend", ["numpy", *ENGINES])
def test_constant_feature_with_gaps_stays_constant_after_batch(rng, backend):
    """A feature equal to 3.0 wherever observed and missing in half the rows: per-component
    denominators keep 3.0 in every node (a single per-node denominator, R kohonen's bug,
    would pull it towards 0)."""
    data = random_data(rng, 400, 4)
    data[:, 2] = 3.0
    data[::2, 2] = np.nan
    som = MiniSam(5, 5, 4, learning_rate=1.0, random_seed=0, backend=backend,
                  nan_policy="mask")
    som.train_batch(data, 5)
    assert_allclose(som.get_weights()[:, :, 2], 3.0, rtol=1e-12)
    # The test can fail: the per-node denominator gives values well below 3 somewhere.
    sums = np.zeros((25, 4))
    counts = np.zeros((25, 4))
    flat = som.get_weights().reshape(25, 4)
    reference.masked_batch_sums(flat, data, sums, counts)
    wrong = flat.copy()
    reference.batch_update(wrong, sums, counts.max(axis=1), 1.0, 1.0, som.grid.coords,
                           "gaussian")
    assert wrong[:, 2].min() < 2.5


def test_reported_distances_are_scaled_to_all_features(rng):
    data = gappy(rng, d=6, missing=0.4)
    som = MiniSam(3, 4, 6, random_seed=2, nan_policy="mask")
    som.train_random(data, 500)
    flat = som.get_weights().reshape(12, 6)
    full = brute_masked_d2(flat, data)
    observed = (~np.isnan(data)).sum(axis=1)
    expected = np.mean(np.sqrt(full.min(axis=1) * 6 / observed))
    assert som.quantization_error(data) == pytest.approx(expected, rel=1e-12)
    # winner, quantization and activation_response use the same winners
    index = np.argmin(full, axis=1)
    assert som.winner(data[0]) == divmod(int(index[0]), 4)
    assert_array_equal(som.quantization(data), flat[index])
    assert_array_equal(som.activation_response(data).ravel(), np.bincount(index, minlength=12))
    assert 0.0 <= som.topographic_error(data) <= 1.0


def test_impute_fills_gaps_from_the_best_matching_unit(rng):
    data = gappy(rng, missing=0.25)
    som = MiniSam(4, 4, 5, random_seed=4, nan_policy="mask")
    som.train_batch(data, 5)
    filled = som.impute(data)
    gaps = np.isnan(data)
    assert not np.isnan(filled).any()
    assert_array_equal(filled[~gaps], data[~gaps])
    flat = som.get_weights().reshape(16, 5)
    index = np.argmin(brute_masked_d2(flat, data), axis=1)
    assert_array_equal(filled[gaps], flat[index][gaps])
    assert filled is not data and np.isnan(data).any()  # the input is not modified


def test_impute_needs_mask_policy(rng):
    som = MiniSam(2, 2, 3, random_seed=0)
    with pytest.raises(ValueError, match="nan_policy='mask'"):
        som.impute(random_data(rng, 4, 3))


def test_random_weights_init_keeps_weights_where_drawn_samples_have_gaps(rng):
    data = gappy(rng, missing=0.5)
    som = MiniSam(4, 4, 5, random_seed=0, nan_policy="mask")
    before = som.get_weights()
    som.random_weights_init(data)
    after = som.get_weights()
    assert not np.isnan(after).any()
    assert (after == before).any() and (after != before).any()


def test_nan_policy_is_saved(rng, tmp_path):
    som = MiniSam(3, 3, 5, random_seed=0, nan_policy="mask")
    som.train_batch(gappy(rng), 2)
    som.save(tmp_path / "m.npz")
    loaded = MiniSam.load(tmp_path / "m.npz")
    assert loaded.nan_policy == "mask"
    assert_array_equal(loaded.get_weights(), som.get_weights())
    assert "nan_policy='mask'" in repr(loaded)


def test_format_2_file_loads_with_the_raise_policy(rng, tmp_path):
    som = MiniSam(3, 3, 2, random_seed=0)
    som.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        fields = {name: archive[name] for name in archive.files}
    del fields["nan_policy"]
    fields["format_version"] = np.array(2, dtype=np.int64)
    with open(tmp_path / "old.npz", "wb") as handle:
        np.savez(handle, **fields)
    assert MiniSam.load(tmp_path / "old.npz").nan_policy == "raise"


def test_dask_training_and_scores_with_gaps_match_memory(rng):
    if os.environ.get("CI", "").lower() in ("", "0", "false"):
        pytest.importorskip("dask.array")  # CI installs the test extra: no skip there
    import dask
    import dask.array as da

    data = gappy(rng, n=600, missing=0.2)
    lazy = da.from_array(data, chunks=(150, 5))
    memory = MiniSam(4, 4, 5, random_seed=5, nan_policy="mask")
    distributed = MiniSam(4, 4, 5, random_seed=5, nan_policy="mask")
    memory.train_batch(data, 4)
    with dask.config.set(scheduler="sync"):
        distributed.train_batch(lazy, 4)
        assert_allclose(distributed.get_weights(), memory.get_weights(), rtol=1e-12)
        assert distributed.quantization_error(lazy) == pytest.approx(
            memory.quantization_error(data), rel=1e-12)
        assert_array_equal(distributed.activation_response(lazy),
                           memory.activation_response(data))
