"""The README's demo (minisam.demo) on a small map: files written, every engine in the table."""

from __future__ import annotations

import os

import numpy as np
import pytest

from minisam import available_backends, demo

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import matplotlib  # noqa: F401  (CI installs the plot extra: the pictures must be drawn)
else:
    pytest.importorskip("matplotlib")


def test_demo_writes_the_pictures_and_times_every_engine(tmp_path, capsys):
    demo._main(["--out", str(tmp_path), "--size", "6", "--epochs", "8"])
    out = capsys.readouterr().out
    for name in ("minisam_6x6_8.png", "umatrix_6x6.png", "hits_6x6.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
        assert f"wrote {tmp_path / name}" in out
    rows = {line.split()[0]: line for line in out.splitlines()[out.splitlines().index(
        next(line for line in out.splitlines() if line.startswith("engine"))) + 1:]}
    assert set(rows) == {"kohonen.py", "numpy", "auto", *available_backends()}
    assert "epochs timed" in rows["kohonen.py"]
    for name in ("numpy", "auto", *available_backends()):
        gap = float(rows[name].split()[-1])  # max |w - w_numpy|: the engines agree
        assert 0 <= gap < 1e-10, rows[name]


def test_time_engines_rows():
    rows = demo.time_engines(size=3, epochs=4, repeats=1, sam_epochs=2)
    assert rows[0][0] == "kohonen.py" and rows[0][3] is None
    assert all(seconds > 0 for _, seconds, _, _ in rows)
    table = demo.format_table(rows)
    assert table.splitlines()[0].startswith("engine") and len(table.splitlines()) == len(rows) + 1
    assert np.isfinite([gap for *_, gap in rows[1:]]).all()
