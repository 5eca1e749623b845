"""``minisam.sklearn.SelfOrganizingMap``: scikit-learn's own estimator checks, pipelines, grid
search in worker processes, cloning and pickling, pandas in and out, and the estimator's
results against :class:`minisam.MiniSam` and brute force. CI installs the test extra, so
there a missing scikit-learn or pandas fails instead of skipping.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import pandas as pd  # CI installs the test extra: missing packages fail there
    import sklearn
else:
    sklearn = pytest.importorskip("sklearn")
    pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from minisam.sklearn import SelfOrganizingMap  # noqa: E402


def blobs(n=300, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (k, d))
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))


# Small maps keep the whole check suite to a few seconds.
@parametrize_with_checks([
    SelfOrganizingMap(),
    SelfOrganizingMap(4, 3, mode="online", n_epochs=3),
    SelfOrganizingMap(4, 4, topology="hexagonal", toroidal=True, init="random",
                      random_state=0),
    SelfOrganizingMap(3, 5, mode="online", n_iterations=50, dtype=np.float32,
                      backend="numpy"),
])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------- results
def test_fit_attributes_and_queries_agree():
    X = blobs()
    est = SelfOrganizingMap(5, 4, random_state=0).fit(X)
    assert est.weights_.shape == (5, 4, 4)
    assert est.n_features_in_ == 4 and est.n_iter_ == 10
    assert not hasattr(est, "feature_names_in_")
    distances = est.transform(X)
    assert distances.shape == (300, 20) and distances.dtype == np.float64
    brute = np.linalg.norm(X[:, None, :] - est.weights_.reshape(-1, 4)[None], axis=2)
    assert_allclose(distances, brute, rtol=1e-9, atol=1e-9)
    labels = est.predict(X)
    assert labels.dtype == np.int64
    assert_array_equal(labels, np.argmin(brute, axis=1))
    coords = est.predict_coordinates(X)
    assert coords.shape == (300, 2) and coords.dtype == np.int64
    assert_array_equal(coords[:, 0] * 4 + coords[:, 1], labels)
    assert est.score(X) == pytest.approx(-brute.min(axis=1).mean(), rel=1e-12)
    assert est.quantization_error_ == pytest.approx(-est.score(X), rel=1e-12)
    assert 0.0 <= est.topographic_error_ <= 1.0
    result = est.bmus(X)
    assert_array_equal(result.index, labels)
    assert_allclose(result.distance, brute.min(axis=1), rtol=1e-12)
    names = est.get_feature_names_out()
    assert names[0] == "node_0_0" and names[-1] == "node_4_3" and len(names) == 20


def test_default_batch_fit_is_the_batch_map_from_pca():
    """The default schedule: 10 undamped batch epochs, radius max(rows, cols)/2 -> 1
    exponentially, from the PCA plane; the same as driving MiniSam by hand."""
    X = blobs()
    est = SelfOrganizingMap(6, 4).fit(X)
    som = MiniSam(6, 4, 4, sigma=3.0, learning_rate=1.0)
    from minisam.sklearn import _pca_weights

    som._weights = _pca_weights(X, som.node_positions())
    for sigma in 3.0 * (1 / 3.0) ** (np.arange(10) / 9):
        som.sigma = float(sigma)
        som.train_batch(X, 1)  # one epoch at (learning rate 1, sigma)
    assert_allclose(est.weights_, som.get_weights(), rtol=1e-12, atol=1e-12)


def test_pca_init_spans_the_principal_plane():
    from minisam.sklearn import _pca_weights

    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 3)) * [5.0, 2.0, 0.1]
    positions = MiniSam(7, 3, 3).node_positions()
    w = _pca_weights(X, positions)
    # rows (the longer side) run along the first component, columns along the second
    assert abs(w[-1, 1, 0] - w[0, 1, 0]) == pytest.approx(4 * X[:, 0].std(), rel=0.05)
    assert abs(w[3, -1, 1] - w[3, 0, 1]) == pytest.approx(4 * X[:, 1].std(), rel=0.05)
    assert np.abs(w[..., 2] - X[:, 2].mean()).max() < 0.05
    one = _pca_weights(X[:1], positions)  # a single sample: every node on it
    assert_allclose(one, np.broadcast_to(X[0], one.shape))


def test_fitting_twice_gives_the_same_model():
    X = blobs()
    for params in ({"random_state": 3, "init": "random"},
                   {"random_state": 3, "mode": "online", "n_epochs": 2},
                   {"random_state": np.random.RandomState(5), "mode": "online",
                    "n_iterations": 500}):
        a = SelfOrganizingMap(4, 4, **params)
        b = clone(a)
        first = a.fit(X).weights_.copy()
        second = a.fit(X).weights_
        if not isinstance(params["random_state"], np.random.RandomState):
            assert_array_equal(first, second)
            assert_array_equal(b.fit(X).weights_, first)


def test_online_mode_counts_steps():
    X = blobs(n=200)
    assert SelfOrganizingMap(3, 3, mode="online", n_epochs=4).fit(X).n_iter_ == 800
    assert SelfOrganizingMap(3, 3, mode="online", n_iterations=77).fit(X).n_iter_ == 77


def test_partial_fit_streams():
    X = blobs(n=2000, seed=2)
    stream = SelfOrganizingMap(5, 5, n_epochs=4, random_state=0)
    for chunk in np.array_split(X, 8):
        stream.partial_fit(chunk)
    assert stream.n_iter_ == 2000
    online = SelfOrganizingMap(5, 5, mode="online", n_epochs=4, random_state=0).fit(X)
    # a stream of chunks organises the map about as well as an online fit of the whole
    assert stream.score(X) > 1.1 * online.score(X)  # scores are negative QEs
    assert stream.topographic_error_ < 0.2
    with pytest.raises(ValueError, match="4 features"):
        stream.partial_fit(X[:, :3])
    fitted = SelfOrganizingMap(5, 5, random_state=0).fit(X)
    before = fitted.weights_.copy()
    fitted.partial_fit(X[:100])
    assert not np.array_equal(before, fitted.weights_)


def test_pipeline_with_standard_scaler():
    X = blobs() * [1.0, 100.0, 0.01, 5.0]
    pipe = make_pipeline(StandardScaler(), SelfOrganizingMap(4, 4, random_state=0))
    pipe.fit(X)
    labels = pipe.predict(X)
    assert labels.shape == (300,) and labels.max() < 16
    assert pipe.transform(X).shape == (300, 16)
    assert pipe.score(X) < 0
    som = pipe[-1]
    assert_array_equal(labels, som.predict(StandardScaler().fit_transform(X)))


def test_grid_search_in_two_worker_processes_does_not_hang():
    """GridSearchCV(n_jobs=2) on loky workers, after the parent already ran the compiled
    (OpenMP) kernels: the forked-after-OpenMP hang of ENGINEERING §11 must not happen."""
    script = textwrap.dedent("""
        import numpy as np
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from minisam.sklearn import SelfOrganizingMap
        rng = np.random.default_rng(0)
        X = rng.standard_normal((400, 5))
        SelfOrganizingMap(6, 6).fit(X)  # the parent runs the kernels first
        pipe = make_pipeline(StandardScaler(), SelfOrganizingMap(random_state=0))
        grid = GridSearchCV(pipe, {"selforganizingmap__n_rows": [3, 5],
                                   "selforganizingmap__mode": ["batch", "online"]},
                            cv=2, n_jobs=2)
        grid.fit(X)
        print(sorted(grid.best_params_.items()), len(grid.cv_results_["params"]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=240, check=True)
    assert out.stdout.strip().endswith(" 4")


def test_clone_and_pickle():
    X = blobs()
    est = SelfOrganizingMap(4, 3, mode="online", n_epochs=2, random_state=1)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "weights_")
    est.fit(X)
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(again.weights_, est.weights_)
    assert_array_equal(again.predict(X), est.predict(X))
    assert_array_equal(again.transform(X), est.transform(X))
    again.partial_fit(X[:50])  # the unpickled model trains on
    som = est.to_minisam()
    assert_array_equal(som.get_weights(), est.weights_)
    assert_array_equal(som.bmus(X).index, est.predict(X))


# ---------------------------------------------------------------------- pandas
def test_pandas_in_and_out():
    X = pd.DataFrame(blobs(), columns=["a", "b", "c", "d"])
    est = SelfOrganizingMap(3, 2, random_state=0).set_output(transform="pandas")
    out = est.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"node_{i}_{j}" for i in range(3) for j in range(2)]
    assert_array_equal(est.feature_names_in_, ["a", "b", "c", "d"])
    assert_allclose(out.to_numpy(), est.set_output(transform="default").transform(X))
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X.to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        est.predict(X[["b", "a", "c", "d"]])


def test_integer_and_boolean_columns_convert_exactly():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"i": rng.integers(-1000, 1000, 200),
                          "u": rng.integers(0, 7, 200).astype(np.uint8),
                          "b": rng.random(200) > 0.5,
                          "f": rng.standard_normal(200)})
    est = SelfOrganizingMap(3, 3, random_state=0).fit(frame)
    numeric = frame.to_numpy(dtype=np.float64)
    assert_array_equal(est.predict(frame), est.to_minisam().bmus(numeric).index)
    big = pd.DataFrame({"x": np.array([2 ** 60, 1], dtype=np.int64), "y": [0.5, 0.25]})
    with pytest.raises(ValueError, match="column 'x' holds integers larger"):
        SelfOrganizingMap(2, 2).fit(big)
    with pytest.raises(ValueError, match="integers larger"):
        SelfOrganizingMap(2, 2).fit(np.array([[2 ** 60, 1]], dtype=np.int64))


def test_non_numeric_column_is_refused_by_name():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["red", "green", "blue"]})
    with pytest.raises(ValueError, match="column 'colour' has dtype .* not numeric"):
        SelfOrganizingMap(2, 2).fit(frame)
    frame["colour"] = frame["colour"].astype("category")
    with pytest.raises(ValueError, match="'colour' has dtype category, which is not"):
        SelfOrganizingMap(2, 2).fit(frame)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(("params", "error", "match"), [
    ({"n_rows": 0}, ValueError, "n_rows"),
    ({"n_columns": 2.5}, TypeError, "n_columns"),
    ({"mode": "stochastic"}, ValueError, "mode"),
    ({"n_epochs": 0}, ValueError, "n_epochs"),
    ({"n_iterations": 10}, ValueError, "n_iterations is for mode='online'"),
    ({"sigma": -1.0}, ValueError, "sigma"),
    ({"sigma_schedule": "cosine"}, ValueError, "sigma_schedule"),
    ({"learning_rate": 0}, ValueError, "learning_rate"),
    ({"init": "zeros"}, ValueError, "init"),
    ({"topology": "triangular"}, ValueError, "topology"),
    ({"dtype": np.int32}, ValueError, "dtype"),
    ({"backend": "gpu"}, ValueError, "backend"),
    ({"nan_policy": "ignore"}, ValueError, "nan_policy"),
])
def test_bad_parameters_fail_in_fit(params, error, match):
    est = SelfOrganizingMap(**params)  # __init__ only stores
    with pytest.raises(error, match=match):
        est.fit(blobs(n=20))
    assert not hasattr(est, "weights_")


def test_nan_refused_by_default():
    X = blobs(n=20)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SelfOrganizingMap(2, 2).fit(X)


def test_mask_policy_ignores_missing_values():
    X = blobs(n=300)
    holey = X.copy()
    holey[::5, 2] = np.nan
    est = SelfOrganizingMap(4, 4, nan_policy="mask", random_state=0).fit(holey)
    assert est.__sklearn_tags__().input_tags.allow_nan
    w = est.weights_.reshape(-1, 4)
    observed = ~np.isnan(holey)
    diff = np.where(observed[:, None, :], holey[:, None, :] - w[None], 0.0)
    d = np.sqrt((diff ** 2).sum(axis=2) * 4 / observed.sum(axis=1)[:, None])
    assert_allclose(est.transform(holey), d, rtol=1e-9, atol=1e-9)
    assert_array_equal(est.predict(holey), np.argmin(d, axis=1))


def test_verbose_shows_progress(capsys):
    SelfOrganizingMap(2, 2, verbose=True).fit(blobs(n=50))
    assert "SelfOrganizingMap.fit" in capsys.readouterr().err


def test_import_minisam_does_not_import_sklearn():
    code = ("import sys, minisam; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "import minisam.sklearn; assert 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_explicit_schedules_match_the_public_training_methods():
    """MiniSam._train_scheduled (the estimator's engine) with train_random's own order and
    schedules gives train_random's weights, bit for bit."""
    X = blobs(n=100)
    a = MiniSam(4, 3, 4, random_seed=5)
    b = MiniSam(4, 3, 4, random_seed=5)
    a.train_random(X, 700)
    alphas, sigmas = b._schedules(700)
    order = b._rng.integers(0, 100, size=700)
    b._train_scheduled(X, alphas, sigmas, order)
    assert_array_equal(a.get_weights(), b.get_weights())
    a.train_batch(X, 4)
    b._train_scheduled(X, *a._schedules(4))
    assert_array_equal(a.get_weights(), b.get_weights())
