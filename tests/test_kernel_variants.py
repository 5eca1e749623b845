"""Choosing the instruction-set variant of the compiled kernels (``minisam._kernel_variants``).

A native source build has one variant; a portable build (a wheel) has ``baseline`` plus, on
x86-64, ``x86-64-v3`` and ``x86-64-v4``. The portable checks run where such a build is
installed (CI's distribution check runs the suite on one).
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

from minisam import _kernel_variants as kv

pytestmark = pytest.mark.skipif(not kv.installed_variants(), reason="Cython module not built")
portable_only = pytest.mark.skipif("baseline" not in kv.installed_variants(),
                                   reason="a native build has only the 'native' variant")


def test_the_loaded_variant_is_the_most_capable_runnable_one(monkeypatch):
    monkeypatch.delenv("MINISAM_KERNELS", raising=False)
    from minisam import _cython_kernels

    runnable = kv.runnable_variants()
    assert runnable and set(runnable) <= set(kv.installed_variants())
    name, module = kv.load()
    assert name == runnable[0] == _cython_kernels.VARIANT
    assert module.build_info()["variant"] == name


def test_a_native_build_has_nothing_else():
    installed = kv.installed_variants()
    assert ("native" in installed) is (installed == ["native"])


def test_unknown_or_missing_variant_is_refused(monkeypatch):
    monkeypatch.setenv("MINISAM_KERNELS", "avx9000")
    with pytest.raises(ImportError, match="MINISAM_KERNELS='avx9000'.*unknown kernel variant"):
        kv.load()
    missing = next(v for v in kv.VARIANTS if v not in kv.installed_variants())
    monkeypatch.setenv("MINISAM_KERNELS", missing)
    with pytest.raises(ImportError, match="not in this build"):
        kv.load()


def test_cpu_level_is_sane():
    module = kv.load_variant(kv.runnable_variants()[-1])
    level = module.x86_64_level()
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert level in (1, 3, 4)
    else:
        assert level == 0


@portable_only
def test_every_runnable_variant_can_be_forced_and_computes_the_same(monkeypatch, rng):
    weights = rng.random((37, 5))
    data = rng.random((50, 5))
    results = {}
    for variant in kv.runnable_variants():
        monkeypatch.setenv("MINISAM_KERNELS", variant)
        name, module = kv.load()
        assert name == variant and module.build_info()["variant"] == variant
        index = np.empty(50, dtype=np.int64)
        d2 = np.empty(50)
        module.bmu_many(weights, data, index, d2, 1)
        results[variant] = index
    expected = np.argmin(((data[:, None, :] - weights[None]) ** 2).sum(-1), axis=1)
    for variant, index in results.items():
        np.testing.assert_array_equal(index, expected, err_msg=variant)


@portable_only
def test_variants_the_cpu_lacks_are_refused(monkeypatch):
    level = kv.load_variant("baseline").x86_64_level()
    for variant, needed in kv._PORTABLE.items():
        if variant in kv.installed_variants() and level < needed:
            monkeypatch.setenv("MINISAM_KERNELS", variant)
            with pytest.raises(ImportError, match="needs an x86-64 level"):
                kv.load()
