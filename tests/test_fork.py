"""Fork safety: after training, a forked child (``os.fork`` or a ``fork`` pool) runs minisam
to the end of its work on every engine, serially, with one RuntimeWarning; the parent keeps
its threads.

Every case runs in a subprocess with a timeout, so a hanging child cannot hang the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from minisam import available_backends

CHILD = textwrap.dedent('''
    import json, multiprocessing, os, sys, warnings
    import numpy as np
    from minisam import MiniSam, MiniSom, _processes

    engine = sys.argv[1]
    data = np.random.default_rng(0).random((3000, 16))

    def work(seed):
        """Train both APIs; the weights' bytes as hex digests, and the warnings raised."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            som = MiniSam(12, 10, 16, random_seed=seed, backend=engine, n_jobs=2)
            som.train_batch(data, 3)
            som.train_random(data, 500)
            qe = som.quantization_error(data)
            drop_in = MiniSom(8, 8, 16, sigma=2.0, random_seed=seed, backend=engine, n_jobs=2)
            drop_in.train_batch_offline(data, 2)
            drop_in.train_random(data, 300)
            te = drop_in.topographic_error(data)
        import hashlib
        digest = hashlib.sha256(som.get_weights().tobytes() + drop_in.get_weights().tobytes())
        return {"digest": digest.hexdigest(), "qe": qe, "te": te,
                # the fork warning only (a build without OpenMP also warns that n_jobs=2
                # has no effect on the cython engine: not what this test is about)
                "warnings": [str(w.message) for w in caught
                             if str(w.message) == _processes.FORK_WARNING]}

    expected = {seed: work(seed) for seed in (1, 2)}  # the parent runs its parallel kernels
    report = {"parent_warnings": expected[1]["warnings"]}

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        results = [work(1), work(2)]
        os.write(write, json.dumps(results).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        forked = json.loads(pipe.read())
    os.waitpid(pid, 0)
    report["fork_equal"] = [r["digest"] == expected[s]["digest"]
                            for r, s in zip(forked, (1, 2))]
    report["fork_warnings"] = [w for r in forked for w in r["warnings"]]

    with multiprocessing.get_context("fork").Pool(2) as pool:
        pooled = pool.map(work, [1, 2, 1, 2])
    report["pool_equal"] = [r["digest"] == expected[s]["digest"]
                            for r, s in zip(pooled, (1, 2, 1, 2))]
    report["pool_warnings"] = sum(len(r["warnings"]) for r in pooled)

    report["parent_forked"] = _processes.forked_after_kernels()
    report["parent_threads"] = _processes.kernel_threads(2)
    report["parent_again"] = work(1)["digest"] == expected[1]["digest"]
    print(json.dumps(report))
''')

ENGINES = [name for name in ("numpy", "cython", "numba") if name in available_backends()]
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


@pytest.mark.parametrize("engine", ENGINES)
def test_forked_children_finish_their_work(engine):
    # A session of its own, so that a hung grandchild is killed with it.
    child = subprocess.Popen([sys.executable, "-c", CHILD, engine], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        pytest.fail(f"a forked child hung on the {engine} engine: {err}")
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["parent_warnings"] == []
    assert report["fork_equal"] == [True, True]  # serial kernels: the same weights
    assert report["pool_equal"] == [True] * 4
    if engine == "numpy":  # no OpenMP: nothing to make serial, nothing to warn about
        assert report["fork_warnings"] == []
        assert report["pool_warnings"] == 0
    else:
        assert len(report["fork_warnings"]) == 1  # one warning per child process
        assert "spawn" in report["fork_warnings"][0]
        assert 1 <= report["pool_warnings"] <= 2  # one per worker that ran kernels
    assert not report["parent_forked"]
    assert report["parent_threads"] == 2
    assert report["parent_again"]
