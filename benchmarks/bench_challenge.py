"""Sam's challenge (100x100 colour map, 1000 epochs in order) and Sam's original trainer.

The challenge is ``backend.train_online`` with Sam's schedule: sigma0 = 50, alpha0 = 0.1,
lam = epochs / ln(sigma0), each epoch's values repeated for its 10 samples, float64; on 1 and 2
threads (Sam's pure-Python trainer has no threads parameter).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import common


def _kohonen():
    try:
        from minisam import kohonen
    except ImportError:
        common.skip("minisam.kohonen is not available at this commit")
    return kohonen


def _kohonen_runner(colours, epochs, size, start):
    """A callable running Sam's ``kohonen.train`` from ``start`` (``(size * size, 3)``)."""
    kohonen = _kohonen()
    start = start.reshape(size, size, 3)
    if "initial_weights" in inspect.signature(kohonen.train).parameters:
        return lambda: kohonen.train(colours, epochs, size, size, initial_weights=start)

    def run():  # no seam at this commit: seed the legacy global RNG it draws from
        np.random.seed(0)  # noqa: NPY002 - Sam's trainer uses the legacy global RNG
        return kohonen.train(colours, epochs, size, size)

    return run


class Challenge:
    """The full challenge: 1000 epochs, 10,000 updates (compiled backends)."""

    params = [common.COMPILED_BACKENDS, common.THREADS]
    param_names = ["backend", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300
    epochs = common.CHALLENGE_EPOCHS

    def setup(self, backend, threads):
        common.skip_numpy_threads(backend, threads)
        self.backend = common.get_backend(backend, "train_online", threads=threads)
        self.work = common.challenge(self.epochs)
        self.work.train_online(self.backend, common.CHALLENGE_COLOURS)  # compile / warm up

    def time_train(self, backend, threads):
        self.work.train_online(self.backend)


class ChallengeReduced(Challenge):
    """The reduced challenge: the same schedule over 100 epochs, 1,000 updates (every backend,
    the NumPy reference included)."""

    params = [common.BACKENDS, common.THREADS]
    #: Short calls (10-100 ms; NumPy's 1-2 s): more samples; reruns with 3 samples differed by
    #: up to 30 % on a 2-core VM; 15 s caps the NumPy reference's.
    repeat = (6, 30, 15.0)
    epochs = common.CHALLENGE_EPOCHS_REDUCED


class Kohonen:
    """Sam's triple loop (``minisam.kohonen.train``) on reduced challenges: his small demo
    (10x10 map, 100 epochs) and one epoch of the 100x100 challenge (10 updates). Its cost per
    update is constant, so the full challenge takes 1000 times the second."""

    params = [["10x10-100epochs", "100x100-1epoch"]]
    param_names = ["workload"]
    number = 1
    repeat = (4, 10, 30.0)  # 3 samples varied by up to 60 % between reruns
    warmup_time = 0
    timeout = 300

    def setup(self, workload):
        size, epochs = {"10x10-100epochs": (10, 100), "100x100-1epoch": (100, 1)}[workload]
        rng = np.random.default_rng(0)
        colours = rng.random((common.CHALLENGE_COLOURS, 3))
        self.run = _kohonen_runner(colours, epochs, size, rng.random((size * size, 3)))

    def time_train(self, workload):
        self.run()


class ChallengeTimeFraction:
    """A compiled backend's time on the full challenge (1000 epochs) as a fraction of Sam's
    ``kohonen.py``'s and of the NumPy backend's (0.05 = 20 times faster), timed in this process
    in interleaved rounds (median of 5). Sam's ``kohonen.py`` is timed on 1 epoch and the NumPy
    backend on 100 epochs, each scaled to 1000 (their cost per update is constant)."""

    params = [common.COMPILED_BACKENDS, common.THREADS]
    param_names = ["backend", "threads"]
    unit = "time fraction"
    timeout = 300
    epochs = common.CHALLENGE_EPOCHS

    def setup(self, backend="numpy", threads=1):
        self.backend = common.get_backend(backend, "train_online", threads=threads)
        self.work = common.challenge(self.epochs)
        self.work.train_online(self.backend, common.CHALLENGE_COLOURS)  # compile / warm up
        one_epoch = common.challenge(1)
        self.kohonen = _kohonen_runner(one_epoch.data, 1, common.CHALLENGE_SIZE,
                                       one_epoch.weights)
        self.numpy_backend = common.get_backend("numpy", "train_online", threads=threads)
        self.reduced = common.challenge(common.CHALLENGE_EPOCHS_REDUCED)

    def _full_seconds(self, seconds, epochs):
        return seconds * common.CHALLENGE_EPOCHS / epochs

    def track_time_fraction_of_kohonen(self, backend="numpy", threads=1):
        """Backend's time / Sam's ``kohonen.py``'s time on the challenge. Lower is better."""
        medians = common.interleaved_medians({
            "kohonen": self.kohonen, "backend": lambda: self.work.train_online(self.backend)})
        return common.fraction_of(self._full_seconds(medians["backend"], self.epochs),
                                    self._full_seconds(medians["kohonen"], 1))

    def track_time_fraction_of_numpy(self, backend, threads):
        """Backend's time / the NumPy backend's time on the challenge. Lower is better."""
        medians = common.interleaved_medians({
            "numpy": lambda: self.reduced.train_online(self.numpy_backend),
            "backend": lambda: self.work.train_online(self.backend)})
        return common.fraction_of(
            self._full_seconds(medians["backend"], self.epochs),
            self._full_seconds(medians["numpy"], common.CHALLENGE_EPOCHS_REDUCED))


class NumpyChallengeTimeFraction(ChallengeTimeFraction):
    """The NumPy backend's (the notebook's vectorisation) time on the challenge as a fraction of
    Sam's ``kohonen.py``'s: 100 epochs against 1 epoch, both scaled to 1000 (see
    ChallengeTimeFraction). No ``threads`` parameter: the NumPy backend ignores the count
    (NumPy's BLAS picks its own threading) and ``kohonen.py`` is pure Python."""

    params = []
    param_names = []
    epochs = common.CHALLENGE_EPOCHS_REDUCED
    track_time_fraction_of_numpy = None
