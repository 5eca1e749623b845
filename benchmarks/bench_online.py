"""Online training: 40x40 map, D=64, 20,000 random-order updates, float64 (``train_online``),
on 1 and 2 threads."""

from __future__ import annotations

from . import common


class Online:
    """Time of ``train_online`` for the full 20,000 steps (compiled backends)."""

    params = [common.COMPILED_BACKENDS, common.THREADS]
    param_names = ["backend", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300
    steps = common.ONLINE_STEPS

    def setup(self, backend, threads):
        common.skip_numpy_threads(backend, threads)
        self.backend = common.get_backend(backend, "train_online", threads=threads)
        self.work = common.online()
        self.work.train_online(self.backend, 5)  # compile / warm up

    def time_train(self, backend, threads):
        self.work.train_online(self.backend, self.steps)


class OnlineReduced(Online):
    """The first 2,000 steps of the same schedule (the largest radii), every backend."""

    params = [common.BACKENDS, common.THREADS]
    #: Short calls (10-100 ms; NumPy's 1-2 s): more samples; reruns with 3 samples differed by
    #: up to 30 % on a 2-core VM; 15 s caps the NumPy reference's.
    repeat = (6, 30, 15.0)
    steps = common.ONLINE_STEPS_REDUCED


class OnlineTimeFraction:
    """A compiled backend's time as a fraction of the NumPy backend's on the first 2,000 steps
    (0.05 = 20 times faster), both timed in this process in interleaved rounds (median of 5)."""

    params = [common.COMPILED_BACKENDS, common.THREADS]
    param_names = ["backend", "threads"]
    unit = "time fraction"
    timeout = 300

    def setup(self, backend, threads):
        self.backend = common.get_backend(backend, "train_online", threads=threads)
        self.numpy_backend = common.get_backend("numpy", "train_online", threads=threads)
        self.work = common.online()
        self.work.train_online(self.backend, 5)  # compile / warm up

    def track_time_fraction_of_numpy(self, backend, threads):
        """Backend's time / the NumPy backend's time on the same steps. Lower is better."""
        steps = common.ONLINE_STEPS_REDUCED
        medians = common.interleaved_medians({
            "numpy": lambda: self.work.train_online(self.numpy_backend, steps),
            "backend": lambda: self.work.train_online(self.backend, steps)})
        return common.fraction_of(medians["backend"], medians["numpy"])
