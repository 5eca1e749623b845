"""Checks of the asv benchmark suite (benchmarks/) that need no asv: its workloads are the
documented ones, its modules import without touching minisam, skips work, and the suite keeps
the dashboard's conventions (every recorded quantity is lower-is-better, the thread count is a
benchmark parameter, asv.conf.json links the project)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import json
import math
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "benchmarks" / "common.py").exists(),
                                reason="benchmarks/ is not in this checkout")


def _import(name):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def common():
    return _import("benchmarks.common")


def _modules():
    package = _import("benchmarks")
    return [_import(f"benchmarks.{info.name}") for info in pkgutil.iter_modules(package.__path__)
            if info.name.startswith("bench_")]


def test_modules_import_without_minisam():
    """asv imports every module to discover benchmarks: no kernel may run (or compile) then."""
    names = [info.name for info in pkgutil.iter_modules([str(ROOT / "benchmarks")])]
    code = ("import sys\n"
            + "".join(f"import benchmarks.{name}\n" for name in names)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('minisam', 'numba')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parameters_match_their_names():
    found = 0
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not hasattr(cls, "params"):
                continue
            found += 1
            params = cls.params  # asv: a list of lists (or a tuple) gives one list per parameter
            nested = isinstance(params, tuple) or all(isinstance(p, list) for p in params)
            dimensions = list(params) if nested else [params]
            assert len(dimensions) == len(cls.param_names), cls.__name__
            methods = ["setup", "teardown"] + [name for name in dir(cls)
                                               if _ASV_NAME.match(name) and getattr(cls, name)]
            for method in methods:
                if hasattr(cls, method):
                    arguments = list(inspect.signature(getattr(cls, method)).parameters.values())
                    required = [a for a in arguments[1:] if a.default is inspect.Parameter.empty]
                    assert len(required) <= len(cls.param_names) <= len(arguments) - 1, (
                        cls.__name__, method)
                    # asv passes the parameters by position, in param_names' order
                    names = [a.name for a in arguments[1:1 + len(cls.param_names)]]
                    assert names == list(cls.param_names), (cls.__name__, method, names)
    assert found >= 10


def test_teardown_works_after_a_skipped_setup():
    """asv calls teardown even when setup raised NotImplementedError (a skip)."""
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "teardown"):
                arguments = list(inspect.signature(cls.teardown).parameters)[1:]
                cls().teardown(*["bmu_many"] * len(arguments))


def test_grid_and_schedule_are_minisams(common):
    from minisam import reference

    np.testing.assert_array_equal(common.grid_coords(7, 5), reference.grid_coordinates(7, 5))
    order, alphas, sigmas = common.sam_schedule(4, 3, 50.0, 0.1)
    lam = 4 / math.log(50.0)
    np.testing.assert_array_equal(order, np.tile(np.arange(3), 4))
    np.testing.assert_allclose(sigmas[::3], 50.0 * np.exp(-np.arange(4) / lam))
    np.testing.assert_allclose(alphas[::3], 0.1 * np.exp(-np.arange(4) / lam))
    np.testing.assert_array_equal(alphas.reshape(4, 3), alphas[::3, None].repeat(3, axis=1))


def test_challenge_workload_is_sams_trainer(common):
    """The benchmarked challenge is kohonen.train's algorithm (2 epochs compared)."""
    from minisam import kohonen

    work = common.challenge(2)
    expected = kohonen.train(work.data, 2, common.CHALLENGE_SIZE, common.CHALLENGE_SIZE,
                             initial_weights=work.weights.reshape(100, 100, 3))
    got = work.train_online(common.get_backend("numpy", "train_online"))
    np.testing.assert_allclose(got, expected.reshape(-1, 3), rtol=0, atol=1e-12)


def test_missing_backends_and_operations_skip(common, monkeypatch):
    with pytest.raises(NotImplementedError):
        common.get_backend("numpy", "no_such_operation")
    monkeypatch.setitem(common._BACKEND_CLASSES, "numba", ("minisam.no_such_module", "X"))
    with pytest.raises(NotImplementedError):
        common.get_backend("numba")


def test_thread_count_is_the_parameter(common, monkeypatch):
    monkeypatch.setenv("MINISAM_NUM_THREADS", "2")  # plays no part
    monkeypatch.setattr(common, "usable_cpus", lambda: 2)
    assert common.get_backend("numpy", threads=1).n_threads == 1
    assert common.get_backend("numba", threads=2).n_threads == 2
    with pytest.raises(ValueError, match="threads"):
        common.check_threads(0)


def test_more_threads_than_cpus_skip(common, monkeypatch):
    monkeypatch.setattr(common, "usable_cpus", lambda: 1)
    assert common.check_threads(1) == 1
    with pytest.raises(NotImplementedError, match="CPUs"):
        common.get_backend("numba", "bmu_many", threads=2)
    with pytest.raises(NotImplementedError, match="CPUs"):
        common.make_som(3, 3, 2, "numba", "float64", 2)


def test_numpy_backend_is_measured_once(common):
    common.skip_numpy_threads("numpy", 1)
    common.skip_numpy_threads("cython", 2)
    with pytest.raises(NotImplementedError, match="ignores the thread count"):
        common.skip_numpy_threads("numpy", 2)


def test_fraction_of(common):
    assert common.fraction_of(1.0, 20.0) == 0.05
    assert common.fraction_of(1.0, 3.0) == 0.3333


# asv's benchmark name patterns (asv_runner.benchmarks.*.name_regex).
_ASV_NAME = re.compile(r"^((Time|Track|Mem|PeakMem|Timeraw)[A-Z_].+|"
                       r"(time|track|mem|peakmem|timeraw)_.+)$")


def _benchmarks():
    """``(qualified name, owning class or None, function)`` of every benchmark asv finds."""
    found = []
    for module in _modules():
        for name, value in vars(module).items():
            if name.startswith("_"):
                continue
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in inspect.getmembers(value):
                    if inspect.isfunction(member) and _ASV_NAME.match(attr):
                        found.append((f"{module.__name__}.{name}.{attr}", value, member))
            elif inspect.isfunction(value) and _ASV_NAME.match(name):
                found.append((f"{module.__name__}.{name}", None, value))
    return found


@pytest.mark.parametrize("name", ["benchmarks.common", "benchmarks.history"])
def test_helpers_are_not_benchmarks(name):
    """asv scans every module of benchmarks/: no helper may look like a benchmark to it."""
    module = _import(name)
    found = [attr for attr, value in vars(module).items()
             if not attr.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
             and value.__module__ == name and _ASV_NAME.match(attr)]
    for value in vars(module).values():
        if inspect.isclass(value) and value.__module__ == name:
            found += [attr for attr in vars(value) if _ASV_NAME.match(attr)]
    assert found == []


def test_every_recorded_quantity_is_lower_is_better():
    """asv counts every increase as a regression (Regressions page, red in the list,
    ``asv continuous``): no speed-up or other higher-is-better value may be tracked."""
    benchmarks = _benchmarks()
    assert len(benchmarks) >= 20
    tracks = 0
    for name, cls, function in benchmarks:
        assert "speedup" not in name.lower(), name
        leaf = name.rsplit(".", 1)[1]
        if not leaf.startswith("track_"):
            continue
        tracks += 1
        unit = getattr(function, "unit", None) or getattr(cls, "unit", None)
        assert unit and unit != "unit", f"{name} has no unit"
        assert "lower is better" in (function.__doc__ or "").lower(), (
            f"{name}: its docstring must say that lower is better")
    assert tracks >= 8


#: Benchmark classes without a threads parameter, and why.
_NO_THREADS = {
    "Kohonen": "Sam's pure-Python trainer takes no thread count",
    "NumpyChallengeTimeFraction": "the NumPy backend ignores the thread count",
}


def test_threads_parameter_on_every_kernel_benchmark(common):
    """The thread count is a benchmark parameter (named in every dashboard row, usable as the
    x-axis), not an asv matrix variable."""
    classes = {cls for _, cls, _ in _benchmarks() if cls is not None}
    assert {cls.__name__ for cls in classes} >= set(_NO_THREADS)
    for cls in classes:
        if cls.__name__ in _NO_THREADS:
            assert "threads" not in cls.param_names, cls.__name__
            continue
        assert cls.param_names[-1] == "threads", cls.__name__
        params = cls.params if isinstance(cls.params, (list, tuple)) else [cls.params]
        assert list(params[-1]) == common.THREADS, cls.__name__
    assert common.THREADS == [1, 2]


def _asv_conf():
    text = (ROOT / "asv.conf.json").read_text()
    return json.loads(re.sub(r"(?m)^\s*//.*$", "", text))  # asv allows // comment lines


def test_asv_conf_links_the_project_and_has_no_thread_matrix():
    conf = _asv_conf()
    homepage = re.search(r'(?m)^Homepage\s*=\s*"([^"]+)"',
                         (ROOT / "pyproject.toml").read_text()).group(1)
    assert conf["project_url"] == homepage
    assert conf["show_commit_url"] == homepage.rstrip("/") + "/commit/"
    assert "MINISAM_NUM_THREADS" not in json.dumps(conf.get("matrix", {}))


def test_brute_force_metrics(common):
    weights = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    data = np.array([[0.1, 0.0], [4.0, 5.0]])
    first, second, d2 = common.brute_force_bmu(weights, data)
    np.testing.assert_array_equal(first, [0, 2])
    np.testing.assert_array_equal(second, [1, 1])
    np.testing.assert_allclose(d2, [0.01, 1.0])


def _result(env_name="virtualenv-py3.11", repeats=(20, 6), names=("a.T.time_x", "a.T.track_y")):
    columns = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
               "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number", "stats_repeat"]
    time_row = [[0.1, float("nan"), 0.2], [["1", "2", "3"]], "v", 0, 1.0, None, None, None,
                None, [1, None, 1], [repeats[0], None, repeats[1]]]
    return {"commit_hash": "0" * 40, "env_name": env_name, "result_columns": columns,
            "results": {names[0]: time_row, names[1]: [[0.5], [], "v", 0, 1.0]}}


def test_history_refuses_quick_and_existing_results():
    history = _import("benchmarks.history")
    types = {"a.T.time_x": "time", "a.T.track_y": "track"}
    assert history.result_problems(_result(), types) == []
    quick = history.result_problems(_result(repeats=(1, 1)), types)
    assert len(quick) == 1 and "--quick" in quick[0] and "a.T.time_x (1)" in quick[0]
    assert history.result_problems(_result(repeats=(20, 3)), types)  # e.g. -a rounds=1
    existing = _result(env_name="existing-py_usr_bin_python3")
    assert "existing environment" in history.result_problems(existing, types)[0]
    assert history.result_problems(existing, types, allow_existing=True) == []


def test_history_reads_asv_conf():
    history = _import("benchmarks.history")
    conf = history.load_conf(ROOT / "asv.conf.json")
    assert conf["results_dir"] == str(ROOT / ".asv" / "results")
    assert conf == {**_asv_conf(), "results_dir": conf["results_dir"],
                    "html_dir": str(ROOT / ".asv" / "html")}


def _asv_graphdisplay() -> Path:
    """The installed asv's graphdisplay.js; skips without asv, except in CI (``CI`` set), which
    installs the test extra and must run every test."""
    spec = importlib.util.find_spec("asv")
    if spec is None or not spec.origin:
        if os.environ.get("CI"):
            pytest.fail("asv (in the test extra) is not installed")
        pytest.skip("asv is not installed")
    return Path(spec.origin).parent / "www" / "graphdisplay.js"


def test_history_patches_asvs_category_x_axis(tmp_path):
    """publish patches the published graphdisplay.js: a string parameter as the x-axis is
    plotted at numeric positions with the labels as ticks, not in flot's categories mode
    (whose string x values leave orderBars, and so the chart of several series, empty)."""
    history = _import("benchmarks.history")
    published = tmp_path / "graphdisplay.js"
    published.write_bytes(_asv_graphdisplay().read_bytes())
    original = published.read_text()
    assert original.count("options.xaxis.mode = 'categories'") == 1
    out = io.StringIO()
    assert history.patch_graphdisplay(published, out=out), (
        f"asv {importlib.metadata.version('asv')}'s graphdisplay.js changed: update the patch "
        f"in benchmarks/history.py ({out.getvalue().strip()})")
    assert "patched" in out.getvalue() and "warning" not in out.getvalue()
    patched = published.read_text()
    assert "options.xaxis.mode = 'categories'" not in patched
    branch = patched[patched.index("if (x_coordinate_is_category) {"):]
    branch = branch[:branch.index("var param_names")]
    for code in ("options.xaxis.ticks", "options.xaxis.min = -0.5",
                 "options.xaxis.max = x_labels.length - 0.5",
                 "point[0] = x_labels.indexOf('' + point[0])", "$(\"<span>\").text(label).html()"):
        assert code in branch, code
    # only the category branch changed, and a second publish's patch leaves it as it is
    start = original.index("options.xaxis.mode = 'categories'")
    assert patched.startswith(original[:start])
    assert patched.endswith(original[original.index("var param_names = $.asv.main_json"
                                                    ".benchmarks[current_benchmark].param_names;"
                                                    "\n            options.xaxis.axisLabel"):])
    assert history.patch_graphdisplay(published, out=io.StringIO())
    assert published.read_text() == patched
    node = shutil.which("node")
    if node:
        subprocess.run([node, "--check", str(published)], check=True)


def test_history_leaves_an_unknown_graphdisplay_alone(tmp_path):
    history = _import("benchmarks.history")
    other = tmp_path / "graphdisplay.js"
    text = "if (x_coordinate_is_category) {\n    options.xaxis.mode = 'categories';\n}\n"
    other.write_text(text)
    out = io.StringIO()
    assert not history.patch_graphdisplay(other, out=out)
    assert other.read_text() == text
    assert out.getvalue().startswith("warning:") and "not patched" in out.getvalue()
    out = io.StringIO()
    assert not history.patch_graphdisplay(tmp_path / "missing.js", out=out)
    assert out.getvalue().startswith("warning:")
    assert not (tmp_path / "missing.js").exists()


def test_history_publishes_where_asv_publish_writes():
    history = _import("benchmarks.history")
    conf = {"html_dir": "/conf/html"}
    assert history._html_dir(conf, []) == Path("/conf/html")
    assert history._html_dir(conf, ["--html-dir", "out"]) == Path("out")
    assert history._html_dir(conf, ["-o", "out"]) == Path("out")
    assert history._html_dir(conf, ["--html-dir=out", "HEAD~3..HEAD"]) == Path("out")


def _published(tmp_path, failed=False):
    """A dashboard as asv publish writes it for commit ``abc1...`` (revision 5) of three
    benchmarks, and the results it was published from (one machine)."""
    commit = "abc1" + "0" * 36
    html, results = tmp_path / "html", tmp_path / "results"
    benchmarks = {"a.T.time_x": {"params": [["1", "2"]], "type": "time"},
                  "a.T.track_y": {"params": [], "type": "track"},
                  "a.T.time_skipped": {"params": [], "type": "time"}}
    graphs = html / "graphs" / "machine-m" / "python-3.11"
    graphs.mkdir(parents=True)
    (html / "graphs" / "summary").mkdir()
    (html / "index.json").write_text(json.dumps(
        {"revision_to_hash": {"4": "f" * 40, "5": commit}, "benchmarks": benchmarks}))
    (graphs / "a.T.time_x.json").write_text(json.dumps([[4, [0.2, 0.1]], [5, [0.1, None]]]))
    (graphs / "a.T.track_y.json").write_text(json.dumps([[4, 1.5], [5, 1.5]]))
    (html / "graphs" / "summary" / "a.T.time_skipped.json").write_text("[]")
    (results / "m").mkdir(parents=True)
    (results / "m" / "machine.json").write_text("{}")
    (results / "m" / "abc10000-existing.json").write_text(
        json.dumps({"commit_hash": commit, "result_columns": ["result", "params"],
                    "params": {"machine": "m"},
                    "results": {"a.T.time_x": [[0.1, None if failed else float("nan")]],
                                "a.T.track_y": [1.5], "a.T.time_skipped": [[float("nan")]]}}))
    return html, results, commit, graphs


def test_verify_published_passes_a_complete_dashboard(tmp_path):
    history = _import("benchmarks.history")
    html, results, commit, _ = _published(tmp_path)
    assert history.published_problems(html, commit, results) == []
    assert history.published_problems(html, commit[:8], results) == []
    conf = tmp_path / "asv.conf.json"
    conf.write_text(json.dumps({"results_dir": str(results), "html_dir": str(html)}))
    assert history.main(["--config", str(conf), "verify-published", str(html), commit]) == 0


def test_verify_published_fails_an_incomplete_dashboard(tmp_path):
    history = _import("benchmarks.history")
    html, results, commit, graphs = _published(tmp_path)
    (graphs / "a.T.track_y.json").unlink()
    problems = history.published_problems(html, commit, results)
    assert len(problems) == 1 and problems[0].startswith("a.T.track_y: no graph file")
    conf = tmp_path / "asv.conf.json"
    conf.write_text(json.dumps({"results_dir": str(results), "html_dir": str(html)}))
    assert history.main(["--config", str(conf), "verify-published", str(html), commit]) == 1
    # a point missing at the commit, and an unknown commit
    (graphs / "a.T.track_y.json").write_text(json.dumps([[4, 1.5]]))
    assert history.published_problems(html, commit, results) == [
        "a.T.track_y: no data point for abc10000 (revision 5)"]
    assert "not among the published" in history.published_problems(html, "d" * 8, results)[0]


def test_verify_published_allows_only_recorded_skips(tmp_path):
    """A null value passes only where asv recorded the combination as skipped (NaN), not
    where it failed (null)."""
    history = _import("benchmarks.history")
    html, results, commit, _ = _published(tmp_path, failed=True)
    problems = history.published_problems(html, commit, results)
    assert len(problems) == 1 and problems[0].startswith("a.T.time_x: no value at abc10000 for")
    assert "(2)" in problems[0]


def test_history_keeps_one_machine(tmp_path):
    history = _import("benchmarks.history")
    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text(json.dumps({"a.T.time_x": {"type": "time"}}))
    for machine in (history.HISTORY_MACHINE, "laptop"):
        (results / machine).mkdir()
        (results / machine / "r.json").write_text(json.dumps(
            {"commit_hash": "0" * 40, "env_name": "virtualenv-py3.11", "params":
             {"machine": machine}, "result_columns": ["result"], "results": {}}))
    out = io.StringIO()
    assert history.check({"results_dir": str(results)}, out=out) == 1
    assert "machine 'laptop'" in out.getvalue() and "1 of 2" in out.getvalue()
    assert history.check({"results_dir": str(results)}, out=io.StringIO(), machine=None) == 0


def test_inherited_operations_skip_only_from_the_reference(common):
    """An operation a compiled backend inherits from the NumPy backend skips (the first
    commit's Cython backend); one it shares with it from the base class (the generic
    ``batch_epoch`` over the backend's own ``batch_sums``/``batch_update``) is measured."""
    class Base:
        def batch_epoch(self):
            pass

    class Reference(Base):
        def bmu_many(self):
            pass

    class Inherits(Reference):
        pass

    class Own(Base):
        def bmu_many(self):
            pass

    assert common._defined_by_reference(Inherits, "bmu_many", Reference)
    assert not common._defined_by_reference(Own, "bmu_many", Reference)
    assert not common._defined_by_reference(Own, "batch_epoch", Reference)
    assert not common._defined_by_reference(Inherits, "batch_epoch", Reference)


def test_compiled_batch_epoch_is_measured(common):
    """The compiled backends' batch epoch (the base class's, over their own kernels) runs."""
    from minisam.backends import available_backends
    for name in set(common.COMPILED_BACKENDS) & set(available_backends()):
        assert common.get_backend(name, "batch_epoch").batch_epoch
