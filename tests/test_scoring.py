"""Per-sample scoring (``bmus``) and drift detection (``set_drift_reference`` / ``drift``).

``bmus`` is checked against float64 brute force on every engine; the statistics against
their definitions (and, for the Kolmogorov-Smirnov test, against SciPy, which is a test-only
dependency); the drift decision by its false-alarm rate over 200 seeds of reference-
distribution data and by detecting a 0.5 sigma mean shift in each of 16 features.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_bmu_valid, random_data
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, MiniSom, _scoring, available_backends

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    from scipy import stats  # CI installs the test extra: a missing SciPy fails there
else:
    stats = pytest.importorskip("scipy.stats")

ENGINES = available_backends()


def trained(rng, x=4, y=5, d=3, n=300, dtype=np.float64, backend="auto", **kwargs):
    som = MiniSam(x, y, d, random_seed=3, backend=backend, dtype=dtype, **kwargs)
    data = random_data(rng, n, d, dtype)
    som.random_weights_init(data)
    som.train_batch(data, 5)
    return som, data


# ---------------------------------------------------------------------- bmus
@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("x", "y", "d", "n"), [(4, 5, 3, 300), (1, 7, 1, 50), (3, 1, 6, 1),
                                                (5, 3, 17, 123)])
def test_bmus_are_the_nearest_nodes(rng, backend, dtype, x, y, d, n):
    som, data = trained(rng, x, y, d, n, dtype, backend)
    result = som.bmus(data)
    flat = som.get_weights().reshape(-1, d)
    assert len(result) == n
    for name in ("rows", "cols", "index"):
        assert getattr(result, name).dtype == np.int64
    assert result.distance.dtype == np.float64
    assert_bmu_valid(flat, data, result.index, result.distance.astype(dtype) ** 2)
    assert_array_equal(result.rows * y + result.cols, result.index)
    assert_array_equal(result.rows, result.index // y)
    for k in (0, n - 1):
        assert som.winner(data[k]) == (result.rows[k], result.cols[k])
    exact = np.linalg.norm(data.astype(np.float64) - flat[result.index].astype(np.float64),
                           axis=1)
    assert_allclose(result.distance, exact, rtol=1e-5 if dtype == np.float32 else 1e-12,
                    atol=1e-6 if dtype == np.float32 else 1e-12)
    assert np.mean(result.distance) == pytest.approx(som.quantization_error(data), rel=1e-12)


def test_bmus_search_in_row_slices(rng, monkeypatch):
    """Never the whole data in one kernel call: the search goes through row slices."""
    som, data = trained(rng, n=1000)
    expected = som.bmus(data)
    from minisam import _slicing

    monkeypatch.setattr(_slicing, "SEARCH_SLICE_WORK", 1)
    monkeypatch.setattr(_slicing, "MIN_SEARCH_ROWS", 64)
    seen = []
    search = som._backend.bmu_many

    def spy(weights, block):
        seen.append(block.shape[0])
        return search(weights, block)

    monkeypatch.setattr(som._backend, "bmu_many", spy)
    result = som.bmus(data)
    assert max(seen) == 64 and sum(seen) == 1000
    assert_array_equal(result.index, expected.index)
    assert_array_equal(result.distance, expected.distance)


def test_bmus_to_dict_is_json_ready(rng):
    som, data = trained(rng)
    result = som.bmus(data[:4])
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert set(as_dict) == {"rows", "cols", "index", "distance"}
    assert as_dict["index"] == result.index.tolist()
    assert as_dict["distance"] == result.distance.tolist()


def test_bmus_refuses_bad_data(rng):
    som, _ = trained(rng)
    with pytest.raises(ValueError, match="3 columns"):
        som.bmus(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="finite"):
        som.bmus(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(TypeError, match="real numbers"):
        som.bmus(np.array([["a", "b", "c"]]))


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("distance", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
def test_minisom_bmus_follow_winner(rng, backend, distance, topology):
    som = MiniSom(4, 6, 3, sigma=1.5, activation_distance=distance, topology=topology,
                  random_seed=2, backend=backend)
    data = random_data(rng, 200, 3)
    som.train(data, 300)
    result = som.bmus(data)
    winners = [som.winner(v) for v in data]
    assert_array_equal(result.rows, [w[0] for w in winners])
    assert_array_equal(result.cols, [w[1] for w in winners])
    flat = som.get_weights().reshape(-1, 3)
    assert_array_equal(result.index, result.rows * 6 + result.cols)
    assert_allclose(result.distance, np.linalg.norm(data - flat[result.index], axis=1),
                    rtol=1e-12, atol=1e-15)
    if distance == "euclidean":
        assert np.mean(result.distance) == pytest.approx(som.quantization_error(data),
                                                         rel=1e-12)


# ---------------------------------------------------------------------- statistics
def test_ks_matches_scipy(rng):
    for n_a, n_b in ((50, 80), (1000, 700), (5000, 5000), (3, 400)):
        a = rng.standard_normal(n_a)
        b = rng.standard_normal(n_b) * 1.1 + 0.05
        d, p = _scoring.ks_2samp(a, b)
        expected = stats.ks_2samp(a, b, method="asymp")
        assert d == pytest.approx(expected.statistic, abs=1e-12)
        assert p == pytest.approx(expected.pvalue, abs=0.02, rel=0.15)


def test_ks_with_ties_matches_scipy():
    a = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 3.0])
    b = np.array([0.0, 1.0, 1.0, 1.0, 4.0])
    d, _ = _scoring.ks_2samp(a, b)
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_psi_definition():
    ref = np.array([10, 0, 30, 60])
    new = np.array([20, 5, 25, 50])
    eps = _scoring.PSI_EPSILON
    e = (ref + eps) / (ref.sum() + 4 * eps)
    a = (new + eps) / (new.sum() + 4 * eps)
    assert _scoring.psi(ref, new) == pytest.approx(float(np.sum((a - e) * np.log(a / e))),
                                                   rel=1e-14)
    assert _scoring.psi(ref, ref) == 0.0
    assert np.isfinite(_scoring.psi(np.array([5, 0]), np.array([0, 5])))


def test_psi_pvalue_small_for_a_clear_shift_and_large_for_the_same_histogram():
    ref = np.array([100, 100, 100, 100])
    assert _scoring.psi_pvalue(ref, np.array([160, 80, 80, 80])) < 0.001
    assert _scoring.psi_pvalue(ref, ref) > 0.9


# ---------------------------------------------------------------------- drift
def clustered(rng, n, centres):
    """Samples of a mixture of unit Gaussians around ``centres``."""
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.standard_normal((n, centres.shape[1]))


def test_drift_needs_a_reference(rng):
    som, data = trained(rng)
    with pytest.raises(RuntimeError, match="set_drift_reference"):
        som.drift(data)
    minisom = MiniSom(3, 3, 3, random_seed=1)
    with pytest.raises(RuntimeError, match="set_drift_reference"):
        minisom.drift(data)


def test_drift_reference_is_invalidated_by_training(rng):
    som, data = trained(rng)
    som.set_drift_reference(data)
    som.drift(data)
    som.train_batch(data, 2)
    with pytest.raises(RuntimeError, match="weights changed"):
        som.drift(data)
    som.set_drift_reference(data)
    assert not som.drift(data).is_drift


def test_drift_refuses_bad_arguments(rng):
    som, data = trained(rng)
    som.set_drift_reference(data)
    with pytest.raises(ValueError, match="alpha"):
        som.drift(data, alpha=1.5)
    with pytest.raises(TypeError, match="psi_threshold"):
        som.drift(data, psi_threshold="high")
    with pytest.raises(ValueError, match="new_data must have 3 columns"):
        som.drift(np.zeros((3, 2)))


def test_failed_set_drift_reference_keeps_the_old_one(rng):
    som, data = trained(rng)
    som.set_drift_reference(data)
    before = som.drift_reference
    with pytest.raises(ValueError):
        som.set_drift_reference(np.full((3, 3), np.inf))
    assert som.drift_reference is before


def test_drift_report_fields_and_json(rng):
    som, data = trained(rng, n=2000)
    som.set_drift_reference(data[:1000])
    report = som.drift(data[1000:])
    out = json.loads(json.dumps(report.to_dict()))
    assert out["n_samples"] == 1000 and out["n_reference"] == 1000
    assert out["alpha"] == _scoring.DEFAULT_ALPHA
    for key in ("psi", "psi_pvalue", "ks_statistic", "ks_pvalue", "qe_ratio"):
        assert isinstance(out[key], float)
    qe = som.quantization_error(data[1000:])
    assert report.quantization_error == pytest.approx(qe, rel=1e-12)
    assert report.reference_quantization_error == pytest.approx(
        som.quantization_error(data[:1000]), rel=1e-12)
    assert report.qe_ratio == pytest.approx(qe / report.reference_quantization_error)
    assert report.is_drift == bool(report.reasons)
    # the optional thresholds add their own criteria
    strict = som.drift(data[1000:], psi_threshold=1e-9, qe_ratio_threshold=1e-9)
    assert strict.is_drift and {"psi", "qe_ratio"} <= set(strict.reasons)


def test_false_alarm_rate_over_200_seeds():
    """Reference and new samples from one distribution: alarms at about the documented rate
    (alpha = 1 %; 6 of 200 is the binomial 99.5 % bound), and each test's p-values close to
    uniform (a tenth of them below 0.1)."""
    alarms, pvalues = [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        som = MiniSam(4, 4, 5, random_seed=seed, backend="numpy")
        train = rng.standard_normal((400, 5))
        som.random_weights_init(train)
        som.train_batch(train, 5)
        som.set_drift_reference(rng.standard_normal((800, 5)))
        report = som.drift(rng.standard_normal((800, 5)))
        alarms.append(report.is_drift)
        pvalues.append((report.psi_pvalue, report.ks_pvalue, report.residual_pvalue))
    assert sum(alarms) <= 6, f"{sum(alarms)} false alarms in 200"
    below = (np.array(pvalues) < 0.1).mean(axis=0)
    # psi and ks: 0.1 exactly when calibrated; the residual test's Bonferroni is conservative
    assert (below[:2] > 0.04).all() and (below < 0.17).all(), below


@pytest.mark.parametrize("kind", ["clusters", "gaussian"])
def test_half_sigma_shift_in_any_of_16_features_is_detected(kind):
    """5,000 samples with one of 16 features shifted by half its standard deviation: drift,
    whichever the feature, on 16 Gaussian clusters (8 x 8 map) and on one isotropic Gaussian
    (10 x 10 map, where the map captures little of any single feature)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(0.0, 3.0, (16, 16))

    def sample(n):
        return clustered(rng, n, centres) if kind == "clusters" else rng.standard_normal((n, 16))

    size = 8 if kind == "clusters" else 10
    som = MiniSam(size, size, 16, random_seed=1)
    train = sample(5000)
    som.random_weights_init(train)
    som.train_batch(train, 20)
    reference = sample(5000)
    som.set_drift_reference(reference)
    sd = reference.std(axis=0)
    assert not som.drift(sample(5000)).is_drift
    for feature in range(16):
        shifted = sample(5000)
        shifted[:, feature] += 0.5 * sd[feature]
        report = som.drift(shifted)
        assert report.is_drift, (feature, report)
        assert int(np.argmax(np.abs(report.feature_z))) == feature


def test_large_reference_keeps_quantiles(rng):
    som, _ = trained(rng)
    data = random_data(rng, 25_000, 3)
    som.set_drift_reference(data)
    reference = som.drift_reference
    assert reference.n_samples == 25_000 and reference.hits.sum() == 25_000
    assert reference.distances.shape == (_scoring.MAX_REFERENCE_DISTANCES,)
    full = np.sort(som.bmus(data).distance)
    assert reference.quantization_error == pytest.approx(full.mean(), rel=1e-12)
    assert_allclose(np.quantile(reference.distances, [0.1, 0.5, 0.9]),
                    np.quantile(full, [0.1, 0.5, 0.9]), rtol=1e-3)


# ---------------------------------------------------------------------- persistence
def test_drift_reference_is_saved_with_the_model(rng, tmp_path):
    som, data = trained(rng, n=1000)
    som.set_drift_reference(data[:500])
    som.save(tmp_path / "m.npz")
    loaded = MiniSam.load(tmp_path / "m.npz")
    ref, back = som.drift_reference, loaded.drift_reference
    assert_array_equal(back.hits, ref.hits)
    assert_array_equal(back.distances, ref.distances)
    assert (back.quantization_error, back.n_samples, back.weights_digest) == \
        (ref.quantization_error, ref.n_samples, ref.weights_digest)
    assert loaded.drift(data[500:]) == som.drift(data[500:])


def test_model_without_reference_saves_and_loads_without_one(rng, tmp_path):
    som, data = trained(rng)
    som.save(tmp_path / "m.npz")
    assert MiniSam.load(tmp_path / "m.npz").drift_reference is None
    old = MiniSam.load(Path(__file__).parent / "data" / "minisam_format1.npz")
    assert old.drift_reference is None


@pytest.mark.parametrize(("name", "value"), [("drift_hits", np.array([1, 2])),
                                             ("drift_distances", np.array([np.nan])),
                                             ("drift_n_samples", np.array(3))])
def test_damaged_drift_reference_in_a_file(rng, tmp_path, name, value):
    som, data = trained(rng)
    som.set_drift_reference(data)
    som.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as loaded:
        fields = dict(loaded)
    fields[name] = value
    with open(tmp_path / "bad.npz", "wb") as handle:
        np.savez(handle, **fields)
    with pytest.raises(ValueError, match="drift reference is damaged"):
        MiniSam.load(tmp_path / "bad.npz")
    fields.pop("drift_hits")
    with open(tmp_path / "bad.npz", "wb") as handle:
        np.savez(handle, **fields)
    with pytest.raises(ValueError, match="missing field"):
        MiniSam.load(tmp_path / "bad.npz")


def test_minisom_drift_survives_pickle(rng):
    som = MiniSom(5, 5, 3, sigma=1.5, random_seed=4)
    data = random_data(rng, 1500, 3)
    som.train(data, 1000)
    som.set_drift_reference(data[:700])
    again = pickle.loads(pickle.dumps(som))
    assert again.drift(data[700:]) == som.drift(data[700:])
    assert not som.drift(data[700:]).is_drift
    assert som.drift(data[700:] + 0.2).is_drift


# ---------------------------------------------------------------------- missing values
def test_bmus_with_masked_missing_values(rng):
    som = MiniSam(4, 5, 3, random_seed=3, nan_policy="mask")
    data = random_data(rng, 200, 3)
    som.random_weights_init(data)
    som.train_batch(data, 3)
    holey = data.copy()
    holey[::7, 1] = np.nan
    result = som.bmus(holey)
    flat = som.get_weights().reshape(-1, 3)
    observed = ~np.isnan(holey)
    diff = np.where(observed[:, None, :], holey[:, None, :] - flat[None, :, :], 0.0)
    d2 = (diff ** 2).sum(axis=2) * 3 / observed.sum(axis=1)[:, None]
    assert_array_equal(result.index, np.argmin(d2, axis=1))
    assert_allclose(result.distance, np.sqrt(d2.min(axis=1)), rtol=1e-10)
    som.set_drift_reference(holey)
    assert np.isfinite(som.drift(holey).psi)
