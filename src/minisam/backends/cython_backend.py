"""The ``cython`` backend: OpenMP-parallel Cython kernels compiled at build time."""

from __future__ import annotations

from minisam import _cython_kernels
from minisam.backends.compiled import CompiledBackend

__all__ = ["CythonBackend"]


class CythonBackend(CompiledBackend):
    """Backend running the compiled Cython kernels (:mod:`minisam._cython_kernels`).

    The kernels take their thread count as an argument; results never depend on it.
    """

    name = "cython"
    kernels = _cython_kernels

    #: Whether best-matching-unit searches call NumPy's CBLAS GEMM (else the kernels' own
    #: loops, which track the winners while the scores are computed instead of writing a
    #: ``chunk x n_nodes`` score block and scanning it). Measured with 2 threads on the 2-core
    #: Zen 4 VM, GFLOP/s of the score product, own loops / OpenBLAS GEMM (float32; float64):
    #: K=2500 D=64: 191/156; 102/80. K=2500 D=3: 75/38; 40/22. K=10000 D=64: 201/132;
    #: 100/53. K=400 D=16: 105/61; 73/49. K=900 D=256: 188/172; 100/97.
    #: K=2500 D=784: 177/177; 84/94 (the only case where the GEMM wins).
    use_blas = False

    #: Smallest ``n_nodes * n_features`` for which online training uses all threads. Each
    #: online step ends with a barrier of the threads (~0.15 us for 2), so a second thread
    #: pays only once a step costs more than about a microsecond. Measured on the 2-core
    #: Zen 4 VM (float64, gaussian, 20000 random steps, min of 7 interleaved runs), us/step
    #: with 1 -> 2 threads, MiniSam schedule (sigma max(x, y)/2 -> 1) ; MiniSom's (sigma 1):
    #:   5x5 D=3 (75):        0.16 -> 0.27 ; 0.16 -> 0.27
    #:   8x8 D=16 (1024):     0.32 -> 0.35 ; 0.30 -> 0.36
    #:   20x20 D=3 (1200):    0.64 -> 0.74 ; 0.44 -> 0.41
    #:   10x10 D=16 (1600):   0.58 -> 0.54 ; 0.48 -> 0.55
    #:   16x16 D=8 (2048):    0.70 -> 0.56 ; 0.54 -> 0.46
    #:   30x30 D=3 (2700):    1.10 -> 0.99 ; 0.64 -> 0.66
    #:   10x10 D=64 (6400):   2.03 -> 1.40 ; 1.71 -> 1.18
    #:   20x20 D=16 (6400):   1.97 -> 1.12 ; 1.01 -> 0.92
    #:   100x100 D=3 (30000): 5.33 -> 3.77 ; 3.54 -> 2.16
    #:   40x40 D=64 (102400): 14.07 -> 8.29 ; 9.35 -> 5.29
    #: The crossover lies between 2000 and 3000; above 4096 two threads always won.
    online_parallel_min_size = 4096

    def _gemm(self, dtype) -> tuple[int, bool]:
        if not self.use_blas:
            return 0, False
        return super()._gemm(dtype)

    def _online_threads(self, weights) -> int:
        n_nodes, n_features = weights.shape
        threads = self._threads()
        if threads > 1 and n_nodes * n_features >= self.online_parallel_min_size:
            return threads
        return 1
