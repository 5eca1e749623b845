"""Smoke test of an installed minisam (a wheel, or an sdist build), run from outside the repo.

    python wheel_smoke.py [--expect-openmp yes|no|any] [--expect-backends cython,numba,numpy]
                          [--expect-vendored-openmp]

It checks what a user gets from ``pip install``: the package imports from site-packages (not
from a source tree), ``show_config()`` works, OpenMP is compiled in (or not) as expected, the
expected engines and (portable) kernel variants are built, and a short online and batch
training runs on every backend, for ``MiniSam`` and the ``MiniSom`` drop-in, giving the same
weights as the NumPy reference backend. With ``--expect-vendored-openmp`` (Linux), the OpenMP
runtime in the process must be the copy ``auditwheel repair`` put next to the package, not the
system's. Set ``MINISAM_KERNELS`` to check one kernel variant (``.ci/dist-check`` runs each one
the CPU can run). Exits non-zero on the first failed check.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import sysconfig
import time


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expect-openmp", choices=["yes", "no", "any"], default="any")
    parser.add_argument("--expect-backends", default="cython,numba,numpy",
                        help="comma-separated engines that must be available, fastest first")
    parser.add_argument("--expect-vendored-openmp", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    import numpy as np

    import minisam
    from minisam.backends import cython_parallel

    print(f"import minisam: {time.perf_counter() - start:.2f} s")
    location = os.path.realpath(os.path.dirname(minisam.__file__))
    site = os.path.realpath(sysconfig.get_paths()["platlib"])
    check(location.startswith(site), f"minisam imported from site-packages ({location})")
    check(os.path.exists(os.path.join(location, "py.typed")), "py.typed is installed")

    minisam.show_config()
    config = minisam.show_config(mode="dicts")

    expected_backends = args.expect_backends.split(",")
    check(minisam.available_backends() == expected_backends,
          f"available backends {minisam.available_backends()} == {expected_backends}")
    if args.expect_openmp != "any":
        wanted = args.expect_openmp == "yes"
        check(minisam.openmp_enabled() is wanted, f"openmp_enabled() is {wanted}")
        check(cython_parallel() is wanted, f"the Cython engine is parallel: {wanted}")
    check(config["Build"]["tuned for this CPU (-march=native)"] is False,
          "portable build (no -march=native)")
    from minisam import _cython_kernels
    from minisam._kernel_variants import installed_variants

    x86_64 = platform.machine().lower() in ("x86_64", "amd64")
    expected_variants = ["x86-64-v4", "x86-64-v3", "baseline"] if x86_64 else ["baseline"]
    check(installed_variants() == expected_variants,
          f"kernel variants {installed_variants()} == {expected_variants}; "
          f"loaded: {_cython_kernels.VARIANT}")

    if args.expect_vendored_openmp:
        runtimes = config["Build"]["OpenMP runtime loaded"]
        libs = os.path.realpath(os.path.join(location, os.pardir, "minisam.libs"))
        check(isinstance(runtimes, list) and len(runtimes) == 1
              and os.path.realpath(runtimes[0]).startswith(libs + os.sep),
              f"the only OpenMP runtime loaded is the vendored one: {runtimes}")

    rng = np.random.default_rng(0)
    data = rng.random((300, 5))
    weights = {}
    for backend in ["numpy", *[b for b in expected_backends if b != "numpy"], "auto"]:
        for dtype in (np.float32, np.float64):
            t0 = time.perf_counter()
            som = minisam.MiniSam(9, 7, 5, sigma=3.0, random_seed=1, backend=backend,
                                  dtype=dtype, n_jobs=2)
            som.train_random(data, 2000)
            som.train_batch(data, 3)
            w = som.get_weights()
            check(bool(np.isfinite(w).all()) and w.dtype == dtype,
                  f"MiniSam backend={backend} {np.dtype(dtype).name} trains "
                  f"({time.perf_counter() - t0:.2f} s), qe={som.quantization_error(data):.4f}")
            weights[backend, np.dtype(dtype).name] = w
        drop_in = minisam.MiniSom(6, 8, 5, sigma=1.5, random_seed=2, backend=backend, n_jobs=2)
        drop_in.train_random(data, 500)
        drop_in.train_batch_offline(data, 2)
        weights[backend, "minisom"] = drop_in.get_weights()
    for (backend, kind), w in weights.items():
        tolerance = 1e-4 if kind == "float32" else 1e-9
        check(np.allclose(w, weights["numpy", kind], rtol=tolerance, atol=tolerance),
              f"backend={backend} ({kind}) agrees with the NumPy reference backend")
    print(f"smoke test passed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
