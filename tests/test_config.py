"""``minisam.show_config()``: the installation report for bug reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import minisam
from minisam.backends import available_backends, default_n_threads

SECTIONS = ["minisam", "Python", "Platform", "Dependencies", "Build", "Threads", "Backends",
            "Numba", "BLAS"]


def test_dicts_mode_reports_this_installation():
    config = minisam.show_config(mode="dicts")
    assert list(config) == SECTIONS
    assert config["minisam"]["version"] == minisam.__version__
    assert config["Python"]["version"] == sys.version.split()[0]
    assert config["Backends"]["available"] == available_backends()
    assert config["Backends"]["auto plan"] == minisam.MiniSam(2, 2, 2).backend_plan
    assert config["Threads"]["default n_jobs"] == default_n_threads()
    import numpy as np

    assert config["Dependencies"]["numpy"] == np.__version__


@pytest.mark.skipif("cython" not in available_backends(), reason="Cython module not built")
def test_build_section_agrees_with_the_compiled_module():
    from minisam import _cython_kernels

    build = minisam.show_config(mode="dicts")["Build"]
    info = _cython_kernels.build_info()
    assert build["compiler"] == info["compiler"]
    assert build["tuned for this CPU (-march=native)"] is info["native"]
    assert build["OpenMP"].startswith("yes" if minisam.openmp_enabled() else "no")
    if minisam.openmp_enabled() and sys.platform.startswith("linux"):
        runtimes = build["OpenMP runtime loaded"]
        assert isinstance(runtimes, list) and runtimes
        assert all("omp" in path for path in runtimes)


def test_thread_override_and_invalid_override_are_reported(monkeypatch):
    monkeypatch.setenv("MINISAM_NUM_THREADS", "3")
    threads = minisam.show_config(mode="dicts")["Threads"]
    assert threads["MINISAM_NUM_THREADS"] == "3"
    assert threads["default n_jobs"] == 3
    monkeypatch.setenv("MINISAM_NUM_THREADS", "lots")
    config = minisam.show_config(mode="dicts")  # a bug report must still come out
    assert "invalid" in config["Threads"]["default n_jobs"]
    assert "unavailable" in config["Backends"]["auto plan"]


def test_stdout_mode_prints_every_section(capsys):
    assert minisam.show_config() is None
    out = capsys.readouterr().out
    for section in SECTIONS:
        assert f"\n{section}:\n" in f"\n{out}"
    assert f"version  : {minisam.__version__}" in out


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be 'stdout' or 'dicts'"):
        minisam.show_config(mode="json")


def test_python_dash_m_minisam_prints_the_report():
    out = subprocess.run([sys.executable, "-m", "minisam"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "Backends:" in out and "OpenMP" in out


def test_version_is_single_sourced_and_package_is_typed():
    import importlib.metadata
    from pathlib import Path

    assert importlib.metadata.version("minisam") == minisam.__version__
    assert (Path(minisam.__file__).parent / "py.typed").is_file()


@pytest.mark.skipif("cython" not in available_backends(), reason="Cython module not built")
def test_kernel_variant_is_reported(monkeypatch):
    from minisam import _cython_kernels

    monkeypatch.delenv("MINISAM_KERNELS", raising=False)
    reported = minisam.show_config(mode="dicts")["Build"]["kernel variant"]
    assert reported.startswith(f"{_cython_kernels.VARIANT} (built: ") and "forced" not in reported
    monkeypatch.setenv("MINISAM_KERNELS", _cython_kernels.VARIANT)
    build = minisam.show_config(mode="dicts")["Build"]
    assert "forced by MINISAM_KERNELS" in build["kernel variant"]
