"""Other SOM libraries on minisam's workloads, for ``python -m minisam.bench --peers``.

None of them is a dependency of minisam (nor of its tests or CI): each adapter imports its
library when it runs, and a library that is not installed is reported as such. Every adapter
trains (or searches) on the same data with the same map size and number of epochs as
minisam, in this process, and hands back the resulting weights; the quantization error is
then computed for all of them by the same exact float64 search (mean Euclidean distance of a
sample to its nearest node), so that times compare at equal quality.

Peers: MiniSom 2.3.6 (``minisom``), XPySom (``xpysom``, NumPy mode), somoclu (``somoclu``),
torchsom (``torchsom``, on the CPU) and, for the winner search alone, scikit-learn's
``pairwise_distances_argmin``. Their own defaults are kept except where the workload fixes a
value (map size, epochs, initial radius and learning rate where the peer takes them).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["PEER_PACKAGES", "Workload", "peer_versions", "quantization_error", "run_batch",
           "run_bmu", "run_online"]

#: Library name -> distribution name on the package index.
PEER_PACKAGES = {"minisom": "MiniSom", "xpysom": "XPySom", "somoclu": "somoclu",
                 "torchsom": "torchsom", "scikit-learn": "scikit-learn"}


class PeerMissing(RuntimeError):
    """The peer library is not installed (or cannot run here)."""


def peer_versions() -> dict[str, str | None]:
    """Installed version of every peer, None where it is not installed."""
    versions = {}
    for name, dist in PEER_PACKAGES.items():
        try:
            versions[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _import(module: str):
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a library that fails while loading
        raise PeerMissing(f"{module}: {exc}") from None


@dataclass
class Workload:
    """One training workload: data, map size, epochs (or online steps), initial radius and
    learning rate."""

    name: str
    data: np.ndarray
    x: int
    y: int
    epochs: int
    sigma: float
    learning_rate: float


def quantization_error(weights: np.ndarray, data: np.ndarray) -> float:
    """Mean Euclidean distance of each sample to its nearest node (exact, float64), the same
    measure for every library's weights."""
    from minisam import _minisom_core as core
    from minisam.backends import make_backend

    flat = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).reshape(-1,
                                                                              data.shape[1]))
    _, d2 = core.euclidean_bmu(make_backend("auto"), flat,
                               np.ascontiguousarray(data, dtype=np.float64))
    return float(np.mean(np.sqrt(d2)))


def _timed(run):
    start = time.perf_counter()
    weights = run()
    return time.perf_counter() - start, weights


# ----------------------------------------------------------------------------- online
def run_online(peer: str, work: Workload, n_threads: int):
    """``(seconds, weights)`` of ``work.epochs`` random-order online steps (MiniSom's
    ``train_random``) with ``peer`` (``'minisam'`` is the drop-in ``minisam.MiniSom``)."""
    if peer == "minisam":
        from minisam import MiniSom

        som = MiniSom(work.x, work.y, work.data.shape[1], sigma=work.sigma,
                      learning_rate=work.learning_rate, random_seed=1, n_jobs=n_threads)
        som.train_random(work.data[:50], 10)  # compile / warm up
        som = MiniSom(work.x, work.y, work.data.shape[1], sigma=work.sigma,
                      learning_rate=work.learning_rate, random_seed=1, n_jobs=n_threads)
        return _timed(lambda: (som.train_random(work.data, work.epochs), som.get_weights())[1])
    if peer == "minisom":
        minisom = _import("minisom")
        som = minisom.MiniSom(work.x, work.y, work.data.shape[1], sigma=work.sigma,
                              learning_rate=work.learning_rate, random_seed=1)
        return _timed(lambda: (som.train_random(work.data, work.epochs), som.get_weights())[1])
    raise PeerMissing(f"{peer} has no online training here")


# ----------------------------------------------------------------------------- batch
def run_batch(peer: str, work: Workload, n_threads: int):
    """``(seconds, weights)`` of ``work.epochs`` batch epochs with ``peer``: ``'minisam'``
    (``MiniSam.train_batch``, float32), ``'minisam.MiniSom'`` (the drop-in's
    ``train_batch_offline``, float64), ``'minisom'`` (``train_batch_offline``), ``'xpysom'``
    (``train``, NumPy, float32), ``'somoclu'`` (``train``, float32) or ``'torchsom'``
    (``fit``, CPU, float32, batches of 1024)."""
    data = work.data
    n, dim = data.shape
    if peer == "minisam":
        from minisam import MiniSam

        def make():
            return MiniSam(work.x, work.y, dim, sigma=work.sigma,
                           learning_rate=work.learning_rate, random_seed=1,
                           dtype=np.float32, n_jobs=n_threads)

        make().train_batch(data[:256], 1)  # compile / warm up
        som = make()
        return _timed(lambda: (som.train_batch(data, work.epochs), som.get_weights())[1])
    if peer == "minisam.MiniSom":
        from minisam import MiniSom

        som = MiniSom(work.x, work.y, dim, sigma=work.sigma, learning_rate=work.learning_rate,
                      random_seed=1, n_jobs=n_threads)
        som.train_batch_offline(data[:256], 1)  # warm up
        som = MiniSom(work.x, work.y, dim, sigma=work.sigma, learning_rate=work.learning_rate,
                      random_seed=1, n_jobs=n_threads)
        return _timed(lambda: (som.train_batch_offline(data, work.epochs),
                               som.get_weights())[1])
    if peer == "minisom":
        minisom = _import("minisom")
        som = minisom.MiniSom(work.x, work.y, dim, sigma=work.sigma,
                              learning_rate=work.learning_rate, random_seed=1)
        return _timed(lambda: (som.train_batch_offline(data, work.epochs),
                               som.get_weights())[1])
    if peer == "xpysom":
        xpysom = _import("xpysom")
        som = xpysom.XPySom(work.x, work.y, dim, sigma=work.sigma,
                            learning_rate=work.learning_rate, random_seed=1, xp=np)
        data32 = data.astype(np.float32)
        return _timed(lambda: (som.train(data32, work.epochs), som.get_weights())[1])
    if peer == "somoclu":
        somoclu = _import("somoclu")
        data32 = np.ascontiguousarray(data, dtype=np.float32)
        som = somoclu.Somoclu(work.y, work.x)
        return _timed(lambda: (som.train(data32, epochs=work.epochs,
                                         radius0=work.sigma * 2, scale0=work.learning_rate),
                               som.codebook)[1])
    if peer == "torchsom":
        torch = _import("torch")
        torchsom = _import("torchsom")
        torch.set_num_threads(n_threads)
        tensor = torch.tensor(data, dtype=torch.float32)
        som = torchsom.SOM(x=work.x, y=work.y, num_features=dim, epochs=work.epochs,
                           batch_size=1024, sigma=work.sigma, learning_rate=work.learning_rate,
                           device="cpu", random_seed=1)
        som.initialize_weights(tensor)

        def fit():
            som.fit(tensor, verbose=False)
            return som.weights.detach().cpu().numpy()

        return _timed(fit)
    raise PeerMissing(f"unknown peer {peer}")


# ----------------------------------------------------------------------------- BMU search
def run_bmu(peer: str, weights: np.ndarray, data: np.ndarray, n_threads: int):
    """``(seconds, winner of every row)`` of a winner search: ``'minisam'`` (the auto
    backend's ``bmu_many``, in the data's dtype), ``'scikit-learn'``
    (``pairwise_distances_argmin``) or ``'minisom'`` (``quantization`` on float64, which
    builds the ``n_samples x n_nodes`` matrices)."""
    if peer == "minisam":
        from minisam.backends import make_backend

        backend = make_backend("auto", n_threads)
        backend.bmu_many(weights, data[:256])  # compile / warm up
        return _timed(lambda: backend.bmu_many(weights, data)[0])
    if peer == "scikit-learn":
        metrics = _import("sklearn.metrics")
        from threadpoolctl import threadpool_limits

        def search():
            with threadpool_limits(n_threads):
                return metrics.pairwise_distances_argmin(data, weights)

        return _timed(search)
    if peer == "minisom":
        minisom = _import("minisom")
        som = minisom.MiniSom(1, weights.shape[0], weights.shape[1])
        som._weights = weights.astype(np.float64)[None, :, :]
        data64 = data.astype(np.float64)

        def search():
            return np.argmin(som._distance_from_weights(data64), axis=1)

        return _timed(search)
    raise PeerMissing(f"unknown peer {peer}")
