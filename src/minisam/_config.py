"""``minisam.show_config()``: what a user pastes into a bug report.

It gathers the facts that decide how minisam runs here — versions, how the compiled module was
built (compiler, CPU tuning, OpenMP), which engines are usable and which one ``auto`` picks,
thread counts, Numba's threading layer and the BLAS — without running any kernel.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Any, Literal

__all__ = ["show_config"]

#: ``_OPENMP`` release dates and the OpenMP version each one stands for.
_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                    201811: "5.0", 202011: "5.1", 202111: "5.2", 202411: "6.0"}

#: Numba's threading layers, by the module that implements each (tbb also needs the TBB
#: library, from the ``tbb`` package).
_NUMBA_LAYERS = {"tbb": "numba.np.ufunc.tbbpool", "omp": "numba.np.ufunc.omppool",
                 "workqueue": "numba.np.ufunc.workqueue"}


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _build_section() -> dict[str, Any]:
    try:
        from minisam import _cython_kernels
    except ImportError as exc:
        return {"compiled module": f"missing ({exc})"}
    from minisam._kernel_variants import installed_variants

    info = _cython_kernels.build_info()
    version = info["openmp_version"]
    if info["openmp"]:
        openmp = f"yes, OpenMP {_OPENMP_VERSIONS.get(version, '?')} ({version})"
    else:
        openmp = "no: the Cython kernels run serially"
    return {
        "compiled module": _cython_kernels._kernels.__file__,
        "compiler": info["compiler"],
        "kernel variant": (f"{info['variant']} (built: {', '.join(installed_variants())}"
                           + (", forced by MINISAM_KERNELS)" if os.environ.get("MINISAM_KERNELS")
                              else ")")),
        "CPU x86-64 level": _cython_kernels.x86_64_level() or "n/a (not x86-64)",
        "tuned for this CPU (-march=native)": info["native"],
        "OpenMP": openmp,
        "OpenMP runtime loaded": _openmp_runtimes() or "n/a",
        "OpenMP default threads": info["openmp_max_threads"],
    }


def _openmp_runtimes() -> list[str]:
    """Paths of the OpenMP runtimes mapped into this process (Linux only; else empty).

    Shows whether a wheel's vendored runtime or the system's is in use, and whether two
    different runtimes got loaded (e.g. Numba's omp layer beside ours), a known source of
    oversubscription and crashes.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            fields = (line.split(None, 5) for line in maps)
            paths = {f[5].strip() for f in fields if len(f) == 6}
    except OSError:
        return []
    names = ("libgomp", "libomp", "libiomp")
    return sorted(p for p in paths if os.path.basename(p).startswith(names))


def _numba_section() -> dict[str, Any]:
    if importlib.util.find_spec("numba") is None:
        return {"installed": "no (the 'numba' backend is unavailable)"}
    import numba

    try:
        active = numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process yet
        active = "not chosen yet (picked at the first parallel kernel call)"
    # Looked up, not imported: importing the omp layer would load a second OpenMP runtime into
    # the process just to print this report.
    built_in = [layer for layer, module in _NUMBA_LAYERS.items()
                if importlib.util.find_spec(module) is not None]
    return {
        "llvmlite": _version_of("llvmlite"),
        "threading layer requested": numba.config.THREADING_LAYER,
        "threading layer in use": active,
        "threading layers built in": built_in,
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "cache dir": numba.config.CACHE_DIR or "(next to the package, or a user cache)",
    }


def _blas_section() -> dict[str, Any]:
    import numpy as np

    from minisam._blas import find_blas

    section: dict[str, Any] = {}
    try:
        numpy_blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        section["NumPy's BLAS"] = f"{numpy_blas.get('name')} {numpy_blas.get('version')}"
    except (TypeError, KeyError):  # NumPy < 1.26 only prints its configuration
        section["NumPy's BLAS"] = "unknown"
    blas = find_blas()
    if blas is None:
        section["CBLAS GEMM for the kernels"] = "not found (the kernels use their own loops)"
    else:
        section["CBLAS GEMM for the kernels"] = f"{blas.path} ({'ILP64' if blas.ilp64 else 'LP64'})"
        if blas.get_threads is not None:
            section["BLAS threads"] = f"{blas.get_threads()} (1 while minisam's kernels run)"
    return section


def _threads_section() -> dict[str, Any]:
    from minisam.backends import default_n_threads

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    override = os.environ.get("MINISAM_NUM_THREADS", "").strip()
    try:
        default = default_n_threads()
    except ValueError as exc:
        default = f"invalid: {exc}"
    return {
        "CPUs": os.cpu_count(),
        "CPUs this process may use": usable,
        "MINISAM_NUM_THREADS": override or "(not set)",
        "default n_jobs": default,
    }


def _backends_section() -> dict[str, Any]:
    from minisam.backends import available_backends, make_backend

    section: dict[str, Any] = {"available": available_backends()}
    try:
        section["auto plan"] = make_backend("auto").plan
    except ValueError as exc:  # e.g. an invalid MINISAM_NUM_THREADS
        section["auto plan"] = f"unavailable: {exc}"
    return section


def _collect() -> dict[str, dict[str, Any]]:
    from minisam._version import __version__

    system = platform.system()
    libc = " ".join(part for part in platform.libc_ver() if part)
    return {
        "minisam": {"version": __version__,
                    "location": os.path.dirname(os.path.abspath(__file__))},
        "Python": {"version": sys.version.split()[0],
                   "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "Platform": {"system": f"{system} {platform.release()}",
                     "machine": platform.machine(),
                     "libc": libc or "n/a"},
        "Dependencies": {"numpy": _version_of("numpy"), "numba": _version_of("numba")},
        "Build": _build_section(),
        "Threads": _threads_section(),
        "Backends": _backends_section(),
        "Numba": _numba_section(),
        "BLAS": _blas_section(),
    }


def _format(config: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, entries in config.items():
        lines.append(f"{section}:")
        width = max(len(key) for key in entries)
        for key, value in entries.items():
            if isinstance(value, list):
                value = ", ".join(value) or "(none)"
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            lines.append(f"  {key:<{width}} : {value}")
    return "\n".join(lines)


def show_config(mode: Literal["stdout", "dicts"] = "stdout") -> dict[str, dict[str, Any]] | None:
    """Describe this minisam installation: what to paste into a bug report.

    Shows the versions of minisam, Python, NumPy and Numba; how the compiled Cython module was
    built (compiler, ``-march=native`` or portable, OpenMP and its version); the thread counts
    (CPUs, ``$MINISAM_NUM_THREADS``, the default ``n_jobs``, OpenMP's and Numba's); the
    available backends and the engine ``backend='auto'`` picks for each operation; Numba's
    threading layer; and the BLAS NumPy uses and whether the kernels found its GEMM. Nothing
    is compiled or trained (importing Numba takes under a second).

    Parameters
    ----------
    mode : {'stdout', 'dicts'}, default 'stdout'
        ``'stdout'`` prints the report; ``'dicts'`` returns it instead, as a dict of sections,
        each a dict of entries.

    Returns
    -------
    dict or None
        The report when ``mode='dicts'``, else None.

    Examples
    --------
    >>> import minisam
    >>> minisam.show_config()                                     # doctest: +SKIP
    >>> minisam.show_config(mode="dicts")["Build"]["OpenMP"]      # doctest: +SKIP
    'yes, OpenMP 4.5 (201511)'
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    config = _collect()
    if mode == "dicts":
        return config
    print(_format(config))
    return None
