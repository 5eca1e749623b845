"""The missing-value policy of ``MiniSam(..., nan_policy=...)``: which kernels a call uses and
how distances over partly observed samples are reported.

With ``nan_policy='mask'`` a NaN entry of the data is a missing value (checked by
:func:`minisam._validation.check_data`: infinity is still refused, and so is a row with
nothing observed). The backends' ``masked_*`` operations do the work: winners over each
sample's observed features, online steps that move observed components only, batch sums with
one count per component. Data without any NaN take the dense operations, so the policy costs
nothing there.

Reported squared distances are scaled by ``n_features / n_observed`` (R kohonen's and
IntraSOM's convention): a sample missing half its features would otherwise look twice as
close as it is. The factor is the same for every node, so it never changes a winner.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NAN_POLICIES", "batch_sums", "has_missing", "scaled_d2", "search"]

#: The values of ``nan_policy``.
NAN_POLICIES = ("raise", "mask")


def has_missing(data: np.ndarray) -> bool:
    """Whether ``data`` holds a NaN (a missing value under ``nan_policy='mask'``)."""
    return bool(np.isnan(data).any())


def scaled_d2(d2: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Squared distances over the observed features, scaled by ``n_features / n_observed``
    per row of ``data`` (in the dtype of ``d2``)."""
    observed = np.count_nonzero(~np.isnan(data), axis=1)
    factor = data.shape[1] / np.maximum(observed, 1)
    return (d2.astype(np.float64) * factor).astype(d2.dtype)


def search(backend, flat: np.ndarray, data: np.ndarray, second: bool = False):
    """Winners of the rows of ``data``: ``(index, squared distance)`` (scaled where values
    are missing), or ``(best, second best)`` with ``second``; dense kernels when nothing is
    missing."""
    if not has_missing(data):
        return backend.top2_many(flat, data) if second else backend.bmu_many(flat, data)
    if second:
        return backend.masked_top2_many(flat, data)
    index, d2 = backend.masked_bmu_many(flat, data)
    return index, scaled_d2(d2, data)


def batch_sums(backend, flat: np.ndarray, data: np.ndarray, sums: np.ndarray,
               counts: np.ndarray) -> None:
    """The first half of a batch epoch into ``sums`` and ``counts``.

    ``counts`` of shape ``(n_nodes,)``: the dense sums (``data`` has no NaN). Of shape
    ``(n_nodes, n_features)``: one count per component, from the masked sums when ``data``
    has missing values, else the dense ones with each node's count in every column (the same
    numbers, at the dense speed).
    """
    if counts.ndim == 1:
        backend.batch_sums(flat, data, sums, counts)
    elif has_missing(data):
        backend.masked_batch_sums(flat, data, sums, counts)
    else:
        per_node = np.zeros(counts.shape[0])
        backend.batch_sums(flat, data, sums, per_node)
        counts += per_node[:, None]
