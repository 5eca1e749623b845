"""Per-sample scoring (each sample's best-matching unit and distance) and drift detection.

Shared by :class:`~minisam.MiniSam` and the :class:`~minisam.MiniSom` drop-in: each class
supplies its own blockwise winner search (``(flat index, squared distance)`` per sample, in
row slices, never an ``n_samples x n_nodes`` matrix) and this module turns it into results.

Drift compares new data with reference statistics recorded on data the model is known to
handle (:func:`reference_statistics`):

* **PSI** (population stability index) between the reference and the new BMU hit
  histograms, ``sum((a - e) ln(a / e))`` over the nodes, with each proportion smoothed as
  ``(count + eps) / (n + n_nodes eps)`` so that empty nodes stay finite. Its size depends
  on the number of nodes and of samples (with hundreds of nodes, pure sampling noise gives a
  PSI of ``(n_nodes - 1) (1 / n_ref + 1 / n_new)``, well above the usual 0.1 / 0.25 rules of
  thumb), so the decision uses its p-value: the fraction of PSIs at least as large among
  histograms drawn under "no drift" (both histograms multinomial from the pooled
  proportions; a parametric bootstrap with a fixed seed, so reports are reproducible);
* the two-sample **Kolmogorov-Smirnov** statistic and asymptotic p-value between the
  reference and the new BMU distances;
* a per-feature test on the **residuals** ``x - w_bmu``: Welch's z of each feature's mean
  residual (new against reference), two-sided normal p-values, Bonferroni over the features.
  It names the features the map no longer explains (``feature_z``), and catches a shift in
  a feature the map barely represents (which moves few samples between nodes);
* the **quantization-error ratio**, new QE over reference QE (reported; a threshold on it
  is optional).

``is_drift`` is true when any of the three p-values is below ``alpha / 3`` (``alpha = 0.01``
by default: a Bonferroni split, so data from the reference distribution raises a false
alarm in at most about 1 % of checks), or when an optional threshold on the PSI or the QE
ratio is exceeded. The reference should be data the map was not trained on: the map fits
its training samples, so their hits, distances and residuals are slightly atypical and
fresh data from the same distribution would alarm more often.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_ALPHA",
    "PSI_EPSILON",
    "BMUResult",
    "DriftReference",
    "DriftReport",
    "bmus",
    "drift_report",
    "residual_moments",
    "ks_2samp",
    "psi",
    "reference_statistics",
]

#: Default significance level of :func:`drift_report` (split between its two tests).
DEFAULT_ALPHA = 0.01
#: Pseudo-count added to every node's hits before the PSI's proportions are taken.
PSI_EPSILON = 0.5
#: Most BMU distances a reference keeps (larger references keep evenly spaced quantiles).
MAX_REFERENCE_DISTANCES = 10_000
#: Histograms drawn under "no drift" for the PSI's p-value.
PSI_BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class BMUResult:
    """Each sample's best-matching unit (BMU) and its distance, as returned by ``bmus``.

    Attributes
    ----------
    rows, cols : ndarray of int64, shape (n_samples,)
        Grid coordinates ``(i, j)`` of each sample's BMU (weights ``[i, j]``).
    index : ndarray of int64, shape (n_samples,)
        Flat node index, ``i * y + j`` (the row of ``weights.reshape(-1, input_len)``).
    distance : ndarray of float64, shape (n_samples,)
        Euclidean distance between each sample and its BMU's weights.
    """

    rows: np.ndarray
    cols: np.ndarray
    index: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to_dict(self) -> dict[str, list]:
        """The four columns as lists of Python ints and floats (JSON-ready)."""
        return {"rows": self.rows.tolist(), "cols": self.cols.tolist(),
                "index": self.index.tolist(), "distance": self.distance.tolist()}


def euclidean(squared_distance) -> np.ndarray:
    """Distances (float64) from a winner search's squared distances."""
    return np.sqrt(np.maximum(np.asarray(squared_distance, dtype=np.float64), 0.0))


def bmus(index, squared_distance, n_columns: int) -> BMUResult:
    """A :class:`BMUResult` from a winner search's flat indices and squared distances on a map
    of ``n_columns`` columns."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    rows, cols = np.divmod(index, n_columns)
    return BMUResult(rows=rows, cols=cols, index=index, distance=euclidean(squared_distance))


def squared_distances(flat: np.ndarray, data: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance (float64) between each row of ``data`` and node
    ``index`` of ``flat``, in blocks of rows (for searches that give winners only)."""
    out = np.empty(data.shape[0], dtype=np.float64)
    rows = 4096
    for start in range(0, data.shape[0], rows):
        block = np.asarray(data[start:start + rows], dtype=np.float64)
        diff = block - np.asarray(flat[index[start:start + rows]], dtype=np.float64)
        out[start:start + rows] = np.einsum("nd,nd->n", diff, diff)
    return out


def residual_moments(flat: np.ndarray, data: np.ndarray, index: np.ndarray):
    """Per-feature count, mean and variance (float64) of the residuals ``x - w_bmu``,
    ignoring missing (NaN) entries, accumulated over blocks of rows."""
    n_features = flat.shape[1]
    count = np.zeros(n_features)
    total = np.zeros(n_features)
    squares = np.zeros(n_features)
    rows = 4096
    for start in range(0, data.shape[0], rows):
        block = np.asarray(data[start:start + rows], dtype=np.float64)
        residual = block - np.asarray(flat[index[start:start + rows]], dtype=np.float64)
        observed = ~np.isnan(residual)
        residual = np.where(observed, residual, 0.0)
        count += observed.sum(axis=0)
        total += residual.sum(axis=0)
        squares += np.einsum("nd,nd->d", residual, residual)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = np.maximum(squares / count - mean * mean, 0.0) * count / np.maximum(count - 1, 1)
    return count, np.where(count > 0, mean, 0.0), np.where(count > 0, var, 0.0)


def weights_digest(weights: np.ndarray) -> str:
    """A fingerprint of the weights (SHA-256 of their bytes), to tell that a drift reference
    belongs to the weights it was measured on."""
    array = np.ascontiguousarray(weights)
    return hashlib.sha256(array.dtype.str.encode() + repr(array.shape).encode()
                          + array.tobytes()).hexdigest()


# ---------------------------------------------------------------------- statistics
def psi(reference_counts, counts, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((a - e) ln(a / e))`` between two histograms of
    counts (``e``: reference, ``a``: new proportions), each smoothed as
    ``(count + epsilon) / (total + n_bins epsilon)``."""
    e = _smoothed(np.asarray(reference_counts, dtype=np.float64), epsilon)
    a = _smoothed(np.asarray(counts, dtype=np.float64), epsilon)
    return float(np.sum((a - e) * np.log(a / e), axis=-1))


def _smoothed(counts: np.ndarray, epsilon: float) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    return (counts + epsilon) / (total + counts.shape[-1] * epsilon)


def _psi_many(reference_counts: np.ndarray, counts: np.ndarray, epsilon: float) -> np.ndarray:
    e = _smoothed(reference_counts, epsilon)
    a = _smoothed(counts, epsilon)
    return np.sum((a - e) * np.log(a / e), axis=-1)


def psi_pvalue(reference_counts, counts, epsilon: float = PSI_EPSILON,
               draws: int = PSI_BOOTSTRAP_DRAWS, seed: int = 0) -> float:
    """P-value of the PSI of two histograms under "same distribution": the fraction (with
    the usual +1 correction) of ``draws`` pairs of multinomial histograms of the same totals,
    drawn from the pooled proportions, whose PSI is at least the observed one."""
    reference_counts = np.asarray(reference_counts, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    observed = psi(reference_counts, counts, epsilon)
    pooled = (reference_counts + counts).astype(np.float64)
    occupied = pooled > 0  # nodes nobody hits contribute nothing under the null
    p = pooled[occupied] / pooled.sum()
    n_bins = reference_counts.shape[0]
    n_ref, n_new = int(reference_counts.sum()), int(counts.sum())
    rng = np.random.default_rng(seed)
    exceed = 0
    per_chunk = max(1, (1 << 20) // max(1, n_bins))  # bounded memory on large maps
    for start in range(0, draws, per_chunk):
        size = min(per_chunk, draws - start)
        ref_draws = np.zeros((size, n_bins))
        new_draws = np.zeros((size, n_bins))
        ref_draws[:, occupied] = rng.multinomial(n_ref, p, size=size)
        new_draws[:, occupied] = rng.multinomial(n_new, p, size=size)
        null = _psi_many(ref_draws, new_draws, epsilon)
        # a relative tolerance: a draw equal to the observed pair counts as "as large"
        exceed += int(np.count_nonzero(null >= observed * (1 - 1e-12)))
    return (exceed + 1) / (draws + 1)


def ks_2samp(a, b) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test: ``(D, p-value)``, with ``D`` the largest gap
    between the two empirical distribution functions and the asymptotic two-sided p-value
    ``Q((sqrt(m) + 0.12 + 0.11 / sqrt(m)) D)`` of the Kolmogorov distribution, ``m = n_a
    n_b / (n_a + n_b)`` (Stephens' small-sample correction)."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    m = math.sqrt(a.size * b.size / (a.size + b.size))
    return d, _kolmogorov_sf((m + 0.12 + 0.11 / m) * d)


def _kolmogorov_sf(x: float) -> float:
    """``P(K > x)`` for the Kolmogorov distribution: ``2 sum (-1)^(k-1) exp(-2 k^2 x^2)``
    (the series converges fast for ``x > 0.2``; below it the p-value is 1 to 1e-9)."""
    if x < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term < 1e-17:
            break
    return float(min(1.0, max(0.0, 2.0 * total)))


def residual_test(reference: DriftReference, count, mean, var) -> tuple[np.ndarray, float]:
    """Welch z of each feature's mean residual, new against reference, and the Bonferroni
    p-value of the largest ``|z|`` (features without a spread in either sample: z = 0)."""
    spread = reference.residual_var / np.maximum(reference.residual_count, 1) \
        + var / np.maximum(count, 1)
    usable = (spread > 0) & (count > 0) & (reference.residual_count > 0)
    z = np.zeros_like(mean)
    z[usable] = (mean[usable] - reference.residual_mean[usable]) / np.sqrt(spread[usable])
    if not usable.any():
        return z, 1.0
    smallest = math.erfc(float(np.max(np.abs(z))) / math.sqrt(2.0))
    return z, float(min(1.0, smallest * int(usable.sum())))


# ---------------------------------------------------------------------- drift
@dataclass(frozen=True)
class DriftReference:
    """Statistics of reference data, recorded by ``set_drift_reference``.

    Attributes
    ----------
    hits : ndarray of int64, shape (n_nodes,)
        How many reference samples each node wins.
    distances : ndarray of float64
        The reference samples' sorted BMU distances (all of them, or
        :data:`MAX_REFERENCE_DISTANCES` evenly spaced quantiles of them).
    quantization_error : float
        Mean BMU distance of the reference samples.
    n_samples : int
        Number of reference samples.
    weights_digest : str
        Fingerprint of the weights the statistics were measured on.
    residual_count, residual_mean, residual_var : ndarray of float64, shape (n_features,)
        Per feature: observed entries, mean and variance of the residuals ``x - w_bmu``.
    """

    hits: np.ndarray
    distances: np.ndarray
    quantization_error: float
    n_samples: int
    weights_digest: str
    residual_count: np.ndarray
    residual_mean: np.ndarray
    residual_var: np.ndarray

    def to_fields(self) -> dict[str, np.ndarray]:
        """The arrays saved in a model file (names prefixed ``drift_``)."""
        return {"drift_hits": self.hits.astype(np.int64),
                "drift_distances": self.distances.astype(np.float64),
                "drift_quantization_error": np.array(self.quantization_error, dtype=np.float64),
                "drift_n_samples": np.array(self.n_samples, dtype=np.int64),
                "drift_weights_digest": np.array(self.weights_digest),
                "drift_residuals": np.stack([self.residual_count, self.residual_mean,
                                             self.residual_var]).astype(np.float64)}

    @classmethod
    def from_fields(cls, fields: dict, n_nodes: int, n_features: int,
                    source: str) -> DriftReference | None:
        """The reference saved as :meth:`to_fields`, checked; None when the file has none."""
        if not fields:
            return None
        names = ("drift_hits", "drift_distances", "drift_quantization_error",
                 "drift_n_samples", "drift_weights_digest", "drift_residuals")
        missing = [name for name in names if name not in fields]
        if missing:
            raise ValueError(f"{source}: drift reference is damaged: missing field(s) {missing}")
        hits, distances = fields["drift_hits"], fields["drift_distances"]
        qe, n, digest = (fields["drift_quantization_error"], fields["drift_n_samples"],
                         fields["drift_weights_digest"])
        if hits.shape != (n_nodes,) or hits.dtype.kind not in "iu" or (hits < 0).any():
            raise ValueError(f"{source}: drift reference is damaged: 'drift_hits' must be "
                             f"{n_nodes} non-negative integers, got dtype {hits.dtype} and "
                             f"shape {hits.shape}")
        if distances.ndim != 1 or distances.dtype.kind != "f" or distances.size == 0 \
                or not np.isfinite(distances).all():
            raise ValueError(f"{source}: drift reference is damaged: 'drift_distances' must be "
                             f"a non-empty 1-D array of finite floats")
        if qe.shape != () or qe.dtype.kind != "f" or n.shape != () or n.dtype.kind not in "iu" \
                or digest.shape != () or digest.dtype.kind != "U" \
                or int(n) != int(hits.sum()):
            raise ValueError(f"{source}: drift reference is damaged (quantization error, "
                             f"sample count or weights digest)")
        residuals = fields["drift_residuals"]
        if residuals.shape != (3, n_features) or residuals.dtype.kind != "f" \
                or not np.isfinite(residuals).all() or (residuals[[0, 2]] < 0).any():
            raise ValueError(f"{source}: drift reference is damaged: 'drift_residuals' must be "
                             f"a finite (3, {n_features}) float array, got dtype "
                             f"{residuals.dtype} and shape {residuals.shape}")
        residuals = residuals.astype(np.float64)
        return cls(hits=hits.astype(np.int64), distances=np.sort(distances.astype(np.float64)),
                   quantization_error=float(qe), n_samples=int(n), weights_digest=str(digest),
                   residual_count=residuals[0], residual_mean=residuals[1],
                   residual_var=residuals[2])


@dataclass(frozen=True)
class DriftReport:
    """The result of ``drift(new_data)``: how new data compares with the reference.

    Attributes
    ----------
    is_drift : bool
        Whether any criterion fired (see ``reasons``).
    psi : float
        Population stability index between the reference and new BMU hit histograms.
    psi_pvalue : float
        Probability of a PSI at least this large without drift (parametric bootstrap).
    ks_statistic, ks_pvalue : float
        Two-sample Kolmogorov-Smirnov statistic and p-value on the BMU distances.
    residual_pvalue : float
        Bonferroni p-value of the largest per-feature residual shift.
    feature_z : list of float
        Welch z of each feature's mean residual, new against reference (``|z| > 4``: that
        feature moved away from what the map explains).
    quantization_error, reference_quantization_error : float
        Mean BMU distance of the new and of the reference data.
    qe_ratio : float
        ``quantization_error / reference_quantization_error``.
    n_samples, n_reference : int
        Number of new and of reference samples.
    alpha : float
        Significance level; each p-value is compared with ``alpha / 3``.
    psi_threshold, qe_ratio_threshold : float or None
        Optional thresholds on the PSI and on the QE ratio.
    reasons : list of str
        The criteria that fired: ``'psi_pvalue'``, ``'ks_pvalue'``, ``'residual_pvalue'``,
        ``'psi'``, ``'qe_ratio'``.
    """

    is_drift: bool
    psi: float
    psi_pvalue: float
    ks_statistic: float
    ks_pvalue: float
    residual_pvalue: float
    feature_z: list[float]
    quantization_error: float
    reference_quantization_error: float
    qe_ratio: float
    n_samples: int
    n_reference: int
    alpha: float
    psi_threshold: float | None = None
    qe_ratio_threshold: float | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The report as a dict of Python bools, ints, floats, None and a list of str
        (JSON-ready: ``json.dumps(report.to_dict())``; an infinite QE ratio becomes None)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        out["reasons"] = list(self.reasons)
        out["feature_z"] = [float(z) for z in self.feature_z]
        return out


def reference_statistics(flat: np.ndarray, data: np.ndarray, index: np.ndarray,
                         squared_distance: np.ndarray) -> DriftReference:
    """A :class:`DriftReference` of ``data`` on the weights ``flat`` from its winner search
    (flat indices and squared distances)."""
    distances = np.sort(euclidean(squared_distance))
    if distances.size > MAX_REFERENCE_DISTANCES:
        positions = ((np.arange(MAX_REFERENCE_DISTANCES) + 0.5) * distances.size
                     / MAX_REFERENCE_DISTANCES).astype(np.int64)
        kept = distances[positions]
    else:
        kept = distances
    count, mean, var = residual_moments(flat, data, index)
    return DriftReference(hits=np.bincount(index, minlength=flat.shape[0]).astype(np.int64),
                          distances=kept, quantization_error=float(np.mean(distances)),
                          n_samples=int(distances.size), weights_digest=weights_digest(flat),
                          residual_count=count, residual_mean=mean, residual_var=var)


def check_alpha(alpha) -> float:
    """``alpha`` as a float in (0, 1), or a ``TypeError``/``ValueError``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f"alpha must be a number in (0, 1), got {type(alpha).__name__} "
                        f"{alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_threshold(name, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be None or a positive number, got "
                        f"{type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be None or a positive finite number, got {value!r}")
    return float(value)


def no_reference_error(cls_name: str) -> RuntimeError:
    return RuntimeError(f"{cls_name}.drift needs reference statistics: call "
                        f"set_drift_reference(reference_data) first, on data the model is "
                        f"known to handle (e.g. its training or validation data)")


def check_reference(reference: DriftReference | None, flat: np.ndarray, cls_name: str) -> None:
    """Refuse a missing reference, or one measured on other weights than ``flat``."""
    if reference is None:
        raise no_reference_error(cls_name)
    if reference.weights_digest != weights_digest(flat):
        raise RuntimeError(f"{cls_name}.drift: the weights changed since set_drift_reference "
                           f"(trained or initialised again?); its statistics no longer "
                           f"describe this map: call set_drift_reference again")


def drift_report(reference: DriftReference, flat: np.ndarray, data: np.ndarray,
                 index: np.ndarray, squared_distance: np.ndarray, *, alpha=DEFAULT_ALPHA,
                 psi_threshold=None, qe_ratio_threshold=None) -> DriftReport:
    """Compare new samples (``data``, with their winner search on ``flat``) with
    ``reference`` (see the module notes)."""
    alpha = check_alpha(alpha)
    psi_threshold = _check_threshold("psi_threshold", psi_threshold)
    qe_ratio_threshold = _check_threshold("qe_ratio_threshold", qe_ratio_threshold)
    counts = np.bincount(index, minlength=reference.hits.shape[0])
    distance = euclidean(squared_distance)
    value = psi(reference.hits, counts)
    psi_p = psi_pvalue(reference.hits, counts)
    ks_d, ks_p = ks_2samp(reference.distances, distance)
    z, residual_p = residual_test(reference, *residual_moments(flat, data, index))
    qe = float(np.mean(distance))
    ref_qe = reference.quantization_error
    ratio = qe / ref_qe if ref_qe > 0 else (1.0 if qe == 0 else math.inf)
    reasons = [name for name, p in (("psi_pvalue", psi_p), ("ks_pvalue", ks_p),
                                    ("residual_pvalue", residual_p)) if p < alpha / 3]
    if psi_threshold is not None and value > psi_threshold:
        reasons.append("psi")
    if qe_ratio_threshold is not None and ratio > qe_ratio_threshold:
        reasons.append("qe_ratio")
    return DriftReport(is_drift=bool(reasons), psi=value, psi_pvalue=float(psi_p),
                       ks_statistic=ks_d, ks_pvalue=ks_p, residual_pvalue=residual_p,
                       feature_z=[float(v) for v in z], quantization_error=qe,
                       reference_quantization_error=ref_qe, qe_ratio=float(ratio),
                       n_samples=int(distance.size), n_reference=reference.n_samples,
                       alpha=alpha, psi_threshold=psi_threshold,
                       qe_ratio_threshold=qe_ratio_threshold, reasons=reasons)
