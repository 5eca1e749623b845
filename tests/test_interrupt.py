"""Ctrl-C: a KeyboardInterrupt during a long call surfaces within 0.5 s, model unchanged.

Each case runs in a subprocess: it starts a call sized to run for at least 10 s, the test
sends it SIGINT about 1 s in, and the subprocess reports (on the system-wide monotonic clock)
when the KeyboardInterrupt reached Python and whether the model equals a copy taken before the
call. A timeout keeps a call that cannot be interrupted from hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from minisam import available_backends

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="SIGINT cannot be sent to a process on Windows")

#: The bound the issue sets on this machine kind (the one timed assertion of the suite).
LATENCY_BOUND_S = 0.5

CHILD = textwrap.dedent('''
    import json, pickle, sys, time
    import numpy as np
    from minisam import MiniSam, MiniSom

    api, engine, method = sys.argv[1:4]
    rng = np.random.default_rng(0)
    if api == "MiniSam":
        som = MiniSam(40, 40, 64, random_seed=0, backend=engine)
        state = lambda: (som.get_weights().tobytes(), som._rng.bit_generator.state)
    else:
        som = MiniSom(40, 40, 64, sigma=3.0, random_seed=0, backend=engine)
        state = lambda: (som.get_weights().tobytes(),
                         pickle.dumps(som._random_generator.get_state()))
    if method == "train_batch":
        data = rng.random((100_000, 64))
        call = lambda n: som.train_batch(data, n)
        unit_work = 1  # epochs
    elif method == "quantization_error":  # a winner search over many rows
        som = MiniSam(200, 200, 64, random_seed=0, backend=engine, dtype=np.float32)
        state = lambda: (som.get_weights().tobytes(), som._rng.bit_generator.state)
        pool = rng.random((20_000, 64), dtype=np.float32)
        call = lambda n: som.quantization_error(np.resize(pool, (n, 64)) if n > len(pool)
                                                else pool[:n])
        unit_work = 4000  # rows
    else:
        data = rng.random((1000, 64))
        call = lambda n: som.train_random(data, n)
        unit_work = 1000 if engine == "numpy" else 10_000
    t = time.perf_counter()
    call(unit_work)  # compiles (or loads) the kernels, and measures their speed
    per_unit = (time.perf_counter() - t) / unit_work
    count = max(unit_work, int(15.0 / per_unit))  # a call of about 15 s
    if method == "quantization_error":  # the rows, made before the call
        rows = np.resize(pool, (count, 64))
        call = lambda n: som.quantization_error(rows)
    before = state()
    print(json.dumps({"ready": time.monotonic(), "expected_s": count * per_unit}), flush=True)
    try:
        call(count)
    except KeyboardInterrupt:
        caught = time.monotonic()
        print(json.dumps({"caught": caught, "unchanged": state() == before}), flush=True)
    else:
        print(json.dumps({"finished": time.monotonic()}), flush=True)
''')

CASES = [("MiniSam", engine, "train_random")
         for engine in ("numpy", "cython", "numba") if engine in available_backends()]
CASES += [("MiniSam", "auto", "train_batch"), ("MiniSom", "auto", "train_random"),
          ("MiniSam", "auto", "quantization_error")]


def interrupt(api: str, engine: str, method: str, after_s: float = 1.0) -> dict:
    """Run the child, SIGINT it ``after_s`` into the long call; return its report with the
    time the signal was sent."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, api, engine, method],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = json.loads(child.stdout.readline() or "{}")
        assert "ready" in ready, child.stderr.read()
        time.sleep(after_s)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    report = json.loads(out.strip().splitlines()[-1])
    report.update(sent=sent, expected_s=ready["expected_s"], stderr=err)
    return report


@pytest.mark.parametrize(("api", "engine", "method"), CASES)
def test_ctrl_c_surfaces_fast_and_leaves_the_model_unchanged(api, engine, method):
    report = interrupt(api, engine, method)
    assert report["expected_s"] >= 10.0
    assert "caught" in report, f"the call ran to its end: {report}"
    latency = report["caught"] - report["sent"]
    assert latency <= LATENCY_BOUND_S, f"KeyboardInterrupt surfaced after {latency:.3f} s"
    assert report["unchanged"], "weights or random state changed by the interrupted call"
