"""Checks of the asv benchmark suite (benchmarks/) that need no asv: its workloads are the
documented ones, its modules import without touching minisam, and skips work."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "benchmarks" / "common.py").exists(),
                                reason="benchmarks/ is not in this checkout")


def _import(name):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def common():
    return _import("benchmarks.common")


def _modules():
    package = _import("benchmarks")
    return [_import(f"benchmarks.{info.name}") for info in pkgutil.iter_modules(package.__path__)
            if info.name.startswith("bench_")]


def test_modules_import_without_minisam():
    """asv imports every module to discover benchmarks: no kernel may run (or compile) then."""
    names = [info.name for info in pkgutil.iter_modules([str(ROOT / "benchmarks")])]
    code = ("import sys\n"
            + "".join(f"import benchmarks.{name}\n" for name in names)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('minisam', 'numba')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parameters_match_their_names():
    found = 0
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not hasattr(cls, "params"):
                continue
            found += 1
            params = cls.params  # asv: a list of lists (or a tuple) gives one list per parameter
            nested = isinstance(params, tuple) or all(isinstance(p, list) for p in params)
            dimensions = list(params) if nested else [params]
            assert len(dimensions) == len(cls.param_names), cls.__name__
            for method in ("setup", "teardown"):
                if hasattr(cls, method):
                    arguments = list(inspect.signature(getattr(cls, method)).parameters.values())
                    required = [a for a in arguments[1:] if a.default is inspect.Parameter.empty]
                    assert len(required) <= len(cls.param_names) <= len(arguments) - 1, (
                        cls.__name__, method)
    assert found >= 10


def test_teardown_works_after_a_skipped_setup():
    """asv calls teardown even when setup raised NotImplementedError (a skip)."""
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "teardown"):
                arguments = list(inspect.signature(cls.teardown).parameters)[1:]
                cls().teardown(*["bmu_many"] * len(arguments))


def test_grid_and_schedule_are_minisams(common):
    from minisam import reference

    np.testing.assert_array_equal(common.grid_coords(7, 5), reference.grid_coordinates(7, 5))
    order, alphas, sigmas = common.sam_schedule(4, 3, 50.0, 0.1)
    lam = 4 / math.log(50.0)
    np.testing.assert_array_equal(order, np.tile(np.arange(3), 4))
    np.testing.assert_allclose(sigmas[::3], 50.0 * np.exp(-np.arange(4) / lam))
    np.testing.assert_allclose(alphas[::3], 0.1 * np.exp(-np.arange(4) / lam))
    np.testing.assert_array_equal(alphas.reshape(4, 3), alphas[::3, None].repeat(3, axis=1))


def test_challenge_workload_is_sams_trainer(common):
    """The benchmarked challenge is kohonen.train's algorithm (2 epochs compared)."""
    from minisam import kohonen

    work = common.challenge(2)
    expected = kohonen.train(work.data, 2, common.CHALLENGE_SIZE, common.CHALLENGE_SIZE,
                             initial_weights=work.weights.reshape(100, 100, 3))
    got = work.train_online(common.get_backend("numpy", "train_online"))
    np.testing.assert_allclose(got, expected.reshape(-1, 3), rtol=0, atol=1e-12)


def test_missing_backends_and_operations_skip(common, monkeypatch):
    with pytest.raises(NotImplementedError):
        common.get_backend("numpy", "no_such_operation")
    monkeypatch.setitem(common._BACKEND_CLASSES, "numba", ("minisam.no_such_module", "X"))
    with pytest.raises(NotImplementedError):
        common.get_backend("numba")


def test_thread_count_comes_from_the_environment(common, monkeypatch):
    monkeypatch.setenv("MINISAM_NUM_THREADS", "1")
    assert common.n_threads() == 1
    assert common.get_backend("numpy").n_threads == 1
    monkeypatch.setenv("MINISAM_NUM_THREADS", "0")
    with pytest.raises(ValueError, match="MINISAM_NUM_THREADS"):
        common.n_threads()


def test_brute_force_metrics(common):
    weights = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    data = np.array([[0.1, 0.0], [4.0, 5.0]])
    first, second, d2 = common.brute_force_bmu(weights, data)
    np.testing.assert_array_equal(first, [0, 2])
    np.testing.assert_array_equal(second, [1, 1])
    np.testing.assert_allclose(d2, [0.01, 1.0])
