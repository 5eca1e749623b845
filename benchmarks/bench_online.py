"""Online training: 40x40 map, D=64, 20,000 random-order updates, float64 (``train_online``)."""

from __future__ import annotations

from . import common


class Online:
    """Time of ``train_online`` for the full 20,000 steps (compiled backends)."""

    params = [common.COMPILED_BACKENDS]
    param_names = ["backend"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300
    steps = common.ONLINE_STEPS

    def setup(self, backend):
        self.backend = common.get_backend(backend, "train_online")
        self.work = common.online()
        self.work.train_online(self.backend, 5)  # compile / warm up

    def time_train(self, backend):
        self.work.train_online(self.backend, self.steps)


class OnlineReduced(Online):
    """The first 2,000 steps of the same schedule (the largest radii), every backend."""

    params = [common.BACKENDS]
    steps = common.ONLINE_STEPS_REDUCED


class OnlineSpeedup:
    """Speed-up over the NumPy backend on the first 2,000 steps, both timed in this process in
    interleaved rounds (median of 3)."""

    params = [common.COMPILED_BACKENDS]
    param_names = ["backend"]
    unit = "ratio"
    timeout = 300

    def setup(self, backend):
        self.backend = common.get_backend(backend, "train_online")
        self.numpy_backend = common.get_backend("numpy", "train_online")
        self.work = common.online()
        self.work.train_online(self.backend, 5)  # compile / warm up

    def track_speedup_vs_numpy(self, backend):
        steps = common.ONLINE_STEPS_REDUCED
        medians = common.interleaved_medians({
            "numpy": lambda: self.work.train_online(self.numpy_backend, steps),
            "backend": lambda: self.work.train_online(self.backend, steps)})
        return medians["numpy"] / medians["backend"]
