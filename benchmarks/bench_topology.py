"""Hexagonal and toroidal maps against the rectangular planar one: the online workload (40x40,
D=64, 20,000 steps, float64) and one batch epoch (50x50, N=100,000, D=64, float32) on each
topology, on 1 and 2 threads. The issue's target: every topology within 1.25 times the
rectangular planar time on the same engine (``python -m minisam.bench --only topology`` prints
the ratios measured in one run)."""

from __future__ import annotations

from . import common

#: (label, lattice, toroidal) of each topology.
TOPOLOGIES = {"rectangular": ("rectangular", False), "toroidal": ("rectangular", True),
              "hexagonal": ("hexagonal", False), "hexagonal-toroidal": ("hexagonal", True)}


def _grid(label: str, side: int):
    try:  # not at import: asv imports every module first
        from minisam.topology import Topology
    except ImportError:
        common.skip("this commit has no minisam.topology")

    lattice, toroidal = TOPOLOGIES[label]
    return Topology(side, side, lattice, toroidal)


class TopologyOnline:
    """Time of the 20,000 online steps on each topology (compiled backends)."""

    params = [common.COMPILED_BACKENDS, list(TOPOLOGIES), common.THREADS]
    param_names = ["backend", "topology", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300

    def setup(self, backend, topology, threads):
        self.backend = common.get_backend(backend, "train_online", threads=threads)
        self.work = common.online()
        self.grid = _grid(topology, common.ONLINE_SIDE)
        self._run(5)  # compile / warm up

    def _run(self, steps=None):
        steps = len(self.work.order) if steps is None else steps
        self.backend.train_online(self.work.weights.copy(), self.work.data,
                                  self.work.order[:steps], self.work.alphas[:steps],
                                  self.work.sigmas[:steps], self.grid.coords, "gaussian",
                                  self.grid.periods)

    def time_train(self, backend, topology, threads):
        self._run()


class TopologyBatchEpoch:
    """Time of one float32 batch epoch over N=100,000 samples on each topology."""

    params = [common.COMPILED_BACKENDS, list(TOPOLOGIES), common.THREADS]
    param_names = ["backend", "topology", "threads"]
    number = 1
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300

    def setup(self, backend, topology, threads):
        self.backend = common.get_backend(backend, "batch_epoch", threads=threads)
        self.work = common.batch("float32")
        self.grid = _grid(topology, common.BATCH_SIDE)
        self._run(512)  # compile / warm up

    def _run(self, rows=None):
        data = self.work.data if rows is None else self.work.data[:rows]
        self.backend.batch_epoch(self.work.weights.copy(), data, common.BATCH_ALPHA,
                                 common.BATCH_SIGMA, self.grid.coords, "gaussian",
                                 self.grid.periods)

    def time_epoch(self, backend, topology, threads):
        self._run()
