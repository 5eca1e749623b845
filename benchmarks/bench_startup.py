"""Start-up costs, each timed in a fresh interpreter (asv ``timeraw_``): ``import minisam`` and
the first call of a compiled backend (import of the backend, Numba JIT compilation or loading
from Numba's on-disk cache, first kernel run on tiny arrays)."""

from __future__ import annotations

import shutil
import tempfile

from . import common

# Run untimed in the fresh interpreter before the timed statement. No minisam import here.
_SETUP = """
{cache}
import numpy as np
rng = np.random.default_rng(0)
w = rng.random((400, 16))
x = rng.random((64, 16))
k = np.arange(400)
coords = np.column_stack([k // 20, k % 20]).astype(np.float64)
order = np.arange(64, dtype=np.int64)
alphas = np.full(64, 0.1)
sigmas = np.full(64, 3.0)
"""

# batch_epoch is left out to keep the suite short: its first call compiles the BMU search
# (timed here) plus one small per-node sum kernel.
_CALLS = {
    "bmu_many": "b.bmu_many(w, x)",
    "train_online": "b.train_online(w, x, order, alphas, sigmas, coords, 'gaussian')",
}

_STMT = """
from minisam.backends import make_backend
b = make_backend({backend!r}, {threads})
{call}
"""


def timeraw_import_minisam():
    """``import minisam`` (NumPy already imported, untimed)."""
    return "import minisam", "import numpy"


timeraw_import_minisam.repeat = (3, 10, 10.0)


class FirstCallNumba:
    """Latency of the Numba backend's first call in a fresh process: creating the backend
    (importing Numba and the kernels) plus the first ``operation`` on tiny float64 arrays.
    ``cache``: ``cold`` starts from an empty Numba cache directory (full JIT compilation);
    ``warm`` uses Numba's usual cache, filled by a call in ``setup`` (what every process after
    the first sees)."""

    params = (list(_CALLS), ["cold", "warm"], common.THREADS)
    param_names = ["operation", "cache", "threads"]
    repeat = (4, 10, 40.0)  # a fresh process per sample: 2-5 varied by up to 50 % between reruns
    timeout = 300
    backend = "numba"

    def setup(self, operation, cache="warm", threads=1):
        # skips where missing at this commit, or where ``threads`` cannot be honoured
        common.get_backend(self.backend, operation, threads=threads)
        self.root = None
        if cache == "cold":  # a fresh, empty cache directory for every timed process
            self.root = tempfile.mkdtemp(prefix="minisam-asv-numba-")
            cache_code = ("import os, tempfile\n"
                          f"os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(dir={self.root!r})")
        else:
            cache_code = ""
        self.setup_code = _SETUP.format(cache=cache_code)
        self.stmt = _STMT.format(backend=self.backend, threads=int(threads),
                                 call=_CALLS[operation])
        if cache == "warm":  # same arrays, same signature: compiles or loads, fills the cache
            namespace = {}
            exec(self.setup_code + self.stmt, namespace)

    def teardown(self, operation, cache="warm", threads=1):
        if getattr(self, "root", None):  # asv tears down after a skip in setup too
            shutil.rmtree(self.root, ignore_errors=True)

    def timeraw_first_call(self, operation, cache="warm", threads=1):
        return self.stmt, self.setup_code


class FirstCallCython(FirstCallNumba):
    """Latency of the Cython backend's first call in a fresh process: creating the backend
    (importing the compiled module) plus the first ``operation`` on tiny float64 arrays."""

    params = [list(_CALLS), common.THREADS]
    param_names = ["operation", "threads"]
    backend = "cython"

    # No cache parameter: asv passes (operation, threads), so forward them by name.
    def setup(self, operation, threads=1):
        super().setup(operation, "warm", threads)

    def teardown(self, operation, threads=1):
        super().teardown(operation, "warm", threads)

    def timeraw_first_call(self, operation, threads=1):
        return super().timeraw_first_call(operation, "warm", threads)
