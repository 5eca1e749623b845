"""The compiled Cython kernels: the best variant of ``csrc/_cython_kernels.pyx`` for this CPU.

Importing this module loads the variant :func:`minisam._kernel_variants.load` picks and
re-exports its kernel contract (:mod:`minisam.backends.compiled`); :data:`VARIANT` names it.
"""

from __future__ import annotations

from minisam._kernel_variants import load

__all__ = ["VARIANT", "bmu_many", "bmu_metric", "bmu_search", "build_info", "group_sums",
           "masked_bmu_search", "masked_group_sums", "masked_train_online", "openmp_enabled",
           "openmp_max_threads", "train_online", "train_online_metric", "x86_64_level"]

VARIANT, _kernels = load()

bmu_many = _kernels.bmu_many
bmu_search = _kernels.bmu_search
build_info = _kernels.build_info
group_sums = _kernels.group_sums
openmp_enabled = _kernels.openmp_enabled
openmp_max_threads = _kernels.openmp_max_threads
train_online = _kernels.train_online
masked_bmu_search = _kernels.masked_bmu_search
masked_group_sums = _kernels.masked_group_sums
masked_train_online = _kernels.masked_train_online
x86_64_level = _kernels.x86_64_level
bmu_metric = _kernels.bmu_metric
train_online_metric = _kernels.train_online_metric
