"""Small winner searches and batch epochs stay serial; results never depend on threads."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from minisam import available_backends
from minisam.backends import compiled, make_backend

COMPILED = [b for b in ("cython", "numba") if b in available_backends()]


def test_search_threads_threshold():
    limit = compiled.SEARCH_PARALLEL_MIN_WORK
    assert compiled.search_threads(2, 1, 1, 1) == 1
    assert compiled.search_threads(2, limit, 1, 1) == 2
    assert compiled.search_threads(2, limit - 1, 1, 1) == 1
    assert compiled.search_threads(1, limit * 4, 1, 1) == 1


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("limit", [0, 1 << 30])
def test_results_do_not_depend_on_threads(backend, limit, monkeypatch):
    monkeypatch.setattr(compiled, "SEARCH_PARALLEL_MIN_WORK", limit)
    rng = np.random.default_rng(0)
    weights = rng.random((50, 7))
    data = rng.random((3000, 7))
    results = []
    for threads in (1, 2):
        engine = make_backend(backend, threads)
        index, d2 = engine.bmu_many(weights, data)
        sums, counts = np.zeros((50, 7)), np.zeros(50)
        engine.batch_sums(weights, data, sums, counts)
        results.append((index, d2, sums, counts))
    for a, b in zip(*results, strict=True):
        assert_array_equal(a, b)
