"""minisam's airspeed velocity (asv) benchmark suite; see ``asv.conf.json`` and the README.

Modules import only NumPy and :mod:`benchmarks.common` at import time: minisam itself is
imported inside ``setup`` so that the suite loads on every commit of the project, and no kernel
runs (or JIT-compiles) while asv discovers the benchmarks.
"""
