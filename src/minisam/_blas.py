"""Find the BLAS that NumPy itself uses, so compiled kernels can call its GEMM directly.

The best-matching-unit search is a matrix product (``|x|^2 - 2 x.w + |w|^2``), and the fastest
GEMM on the machine is the one NumPy ships (OpenBLAS in the PyPI wheels). Neither Numba nor our
Cython module links a BLAS of its own, so we look up ``cblas_sgemm``/``cblas_dgemm`` in the
library NumPy has already loaded and hand their addresses to the kernels, which call them from
their own threads with BLAS threading set to one.

When no usable CBLAS is found (a NumPy built against an unknown BLAS, a platform we do not
probe), :func:`find_blas` returns ``None`` and the kernels use their own distance loops.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["CBLAS_NO_TRANS", "CBLAS_ROW_MAJOR", "CBLAS_TRANS", "Blas", "find_blas",
           "single_threaded_blas"]

CBLAS_ROW_MAJOR = 101
CBLAS_NO_TRANS = 111
CBLAS_TRANS = 112


@dataclass(frozen=True)
class Blas:
    """Addresses of NumPy's CBLAS GEMM routines.

    Attributes
    ----------
    path : str
        Shared library they come from.
    sgemm, dgemm : int
        Addresses of ``cblas_sgemm`` and ``cblas_dgemm``.
    ilp64 : bool
        Whether the integer arguments are 64-bit (ILP64 build) rather than 32-bit.
    """

    path: str
    sgemm: int
    dgemm: int
    ilp64: bool
    library: ctypes.CDLL
    get_threads: object
    set_threads: object

    def gemm_address(self, dtype) -> int:
        """Address of the GEMM for ``dtype`` (float32 or float64)."""
        return self.sgemm if np.dtype(dtype) == np.float32 else self.dgemm


def _loaded_libraries() -> list[str]:
    """Shared libraries mapped into this process (Linux), BLAS-looking ones first."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if path.startswith("/") and ".so" in path and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    # Wheels of NumPy vendor their BLAS next to the package (numpy.libs, numpy/.dylibs).
    root = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*", ".dylibs/*", "../numpy.libs/*.dll"):
        paths.extend(p for p in glob.glob(os.path.join(root, pattern)) if p not in paths)
    return sorted(paths, key=lambda p: "blas" not in os.path.basename(p).lower())


_NAMINGS = (  # (prefix, suffix, ilp64)
    ("scipy_", "64_", True),
    ("", "64_", True),
    ("", "", False),
)


def _probe(path: str) -> Blas | None:
    name = os.path.basename(path).lower()
    if "blas" not in name and "mkl" not in name:
        return None
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix, ilp64 in _NAMINGS:
        try:
            sgemm = getattr(library, f"{prefix}cblas_sgemm{suffix}")
            dgemm = getattr(library, f"{prefix}cblas_dgemm{suffix}")
        except AttributeError:
            continue
        get_threads = _optional(library, [f"{prefix}openblas_get_num_threads{suffix}",
                                          "openblas_get_num_threads"])
        set_threads = _optional(library, [f"{prefix}openblas_set_num_threads{suffix}",
                                          "openblas_set_num_threads"])
        if get_threads is not None:
            get_threads.restype = ctypes.c_int
            get_threads.argtypes = []
        if set_threads is not None:
            set_threads.restype = None
            set_threads.argtypes = [ctypes.c_int]
        return Blas(path, ctypes.cast(sgemm, ctypes.c_void_p).value,
                    ctypes.cast(dgemm, ctypes.c_void_p).value, ilp64, library, get_threads,
                    set_threads)
    return None


def _optional(library, names):
    for name in names:
        try:
            return getattr(library, name)
        except AttributeError:
            continue
    return None


@lru_cache(maxsize=1)
def find_blas() -> Blas | None:
    """The CBLAS used by NumPy, or ``None`` if it cannot be located.

    Set the environment variable ``MINISAM_NO_BLAS=1`` to force the kernels' own loops.
    """
    if os.environ.get("MINISAM_NO_BLAS", "") not in ("", "0"):
        return None
    if not sys.platform.startswith("linux"):
        return None  # only probed on Linux so far; elsewhere the kernels use their own loops
    for path in _loaded_libraries():
        blas = _probe(path)
        if blas is not None and _works(blas):
            return blas
    return None


def _works(blas: Blas) -> bool:
    """Check the GEMM on a tiny product before trusting it with kernels."""
    int_t = ctypes.c_int64 if blas.ilp64 else ctypes.c_int32
    proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, int_t, int_t, int_t,
                             ctypes.c_double, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t,
                             ctypes.c_double, ctypes.c_void_p, int_t)
    dgemm = proto(blas.dgemm)
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.arange(12, dtype=np.float64).reshape(4, 3)
    c = np.zeros((2, 4))
    dgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, 2, 4, 3, 1.0, a.ctypes.data, 3,
          b.ctypes.data, 3, 0.0, c.ctypes.data, 4)
    return bool(np.array_equal(c, a @ b.T))


@contextmanager
def single_threaded_blas(blas: Blas | None):
    """Make the BLAS run each call on the calling thread only, and restore it afterwards.

    Our kernels call GEMM from several threads at once; letting the BLAS start its own
    threads as well would oversubscribe the cores.
    """
    if blas is None or blas.get_threads is None or blas.set_threads is None:
        yield
        return
    previous = blas.get_threads()
    blas.set_threads(1)
    try:
        yield
    finally:
        blas.set_threads(previous)
