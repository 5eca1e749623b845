"""minisam: fast, trustworthy Self-Organizing Maps.

``MiniSam`` is the notebook's vectorised SOM API running on compiled kernels; ``MiniSom`` is a
drop-in replacement for the ``minisom`` package (2.3.6) on the same kernels;
:mod:`minisam.reference` is the pure-NumPy oracle and :mod:`minisam.kohonen` Sam's original
trainer, the baseline every speed-up is measured against. ``show_config()`` describes the
installation (build, OpenMP, backends, threads, BLAS) for bug reports.
"""

from minisam._config import show_config
from minisam._version import __version__
from minisam._watch import TrainingState
from minisam.backends import available_backends
from minisam.minisom import MiniSom
from minisam.som import MiniSam

__all__ = ["MiniSam", "MiniSom", "TrainingState", "__version__", "available_backends",
           "openmp_enabled", "show_config"]


def openmp_enabled() -> bool:
    """Whether the compiled Cython kernels were built with OpenMP (parallel ``prange``).

    False when the build had no OpenMP (kernels then run serially) or the compiled module is
    missing.
    """
    try:
        from minisam import _cython_kernels
    except ImportError:
        return False
    return _cython_kernels.openmp_enabled()
