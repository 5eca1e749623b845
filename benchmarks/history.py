"""Record, check and publish the benchmark history that the asv dashboard shows.

Run from the repository root (README, section "Benchmarks")::

    python -m benchmarks.history record [RANGE ...] [-- ASV_RUN_OPTIONS]   # default RANGE: NEW
    python -m benchmarks.history check [--allow-existing]
    python -m benchmarks.history publish [--allow-existing] [-- ASV_PUBLISH_OPTIONS]
    python -m benchmarks.history verify-published HTML_DIR COMMIT

``record`` runs ``asv run --record-samples`` on the commits of ``RANGE``: a full run (asv's
default repeats and two processes per benchmark), never ``--quick``, with every timing sample
kept so that ``asv compare`` can test differences. ``check`` lists the results that must not
be published: those of ``--quick`` or other reduced runs (a time benchmark with fewer than
``MIN_SAMPLES`` samples; the tracks of the same run are one process's values too), and, unless
``--allow-existing``, those measured in an existing environment (``--python=same``,
``-E existing:...``: a working tree, possibly uncommitted, filed under a commit hash) rather
than in the wheel asv built from that commit (a run of track benchmarks alone cannot be told
from a full one: asv keeps one value per track). ``publish`` runs ``check`` and, only when it
finds nothing, ``asv publish``, then patches the published ``graphdisplay.js`` so that a
string parameter as the x-axis draws bars for several series too (``patch_graphdisplay``).
``record`` files every result under one machine name, ``HISTORY_MACHINE`` (``--machine`` to
change it; ``asv machine --yes --machine NAME`` describes this host under it), and ``check``
refuses results filed under any other name: the history is one machine's. ``verify-published``
checks that a published dashboard is complete (``published_problems``): every benchmark of
``index.json`` has a graph with a value at ``COMMIT`` for every parameter combination, except
those that asv recorded as skipped (``n/a``) at that commit. ``--config PATH`` (before the
command) uses another asv configuration than ``asv.conf.json``.

asv discovers benchmarks in this directory too: this module imports only the standard library
and defines nothing that asv takes for a benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

#: Fewest samples of a time benchmark in a result that may be published. A full run gives at
#: least 4 (2 processes, ``rounds``, times at least 2 repeats each: 6-20 for most of the
#: suite); ``--quick`` gives 1 (one process, one call), ``-a rounds=1`` 2-3.
MIN_SAMPLES = 4
#: The one machine name of the published history (``record --machine``, ``check --machine``).
HISTORY_MACHINE = "minisam-history"
#: Benchmark types whose results carry a sample count (``stats_repeat``).
_TIMED_TYPES = ("time", "timeraw")


def load_conf(path: str | Path) -> dict:
    """asv's configuration (JSON with ``//`` comment lines), relative paths resolved against
    its directory."""
    path = Path(path)
    conf = json.loads(re.sub(r"(?m)^\s*//.*$", "", path.read_text()))
    for key, default in (("results_dir", "results"), ("html_dir", "html")):
        conf[key] = str((path.parent / conf.get(key, default)).resolve())
    return conf


def _column(row: list, columns: list, name: str):
    index = columns.index(name) if name in columns else -1
    return row[index] if 0 <= index < len(row) else None


def _is_na(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def result_problems(data: dict, types: dict, allow_existing: bool = False) -> list[str]:
    """Why the result file ``data`` (one commit, machine and environment) must not be
    published; empty when it may. ``types`` maps benchmark names to asv's types
    (``benchmarks.json``)."""
    problems = []
    env_name = str(data.get("env_name", ""))
    if not allow_existing and env_name.startswith("existing"):
        problems.append(f"measured in an existing environment ({env_name}), not in the wheel "
                        f"asv builds from the commit")
    columns = data.get("result_columns", [])
    short = []
    for name, row in sorted(data.get("results", {}).items()):
        if types.get(name) not in _TIMED_TYPES:
            continue
        values = _column(row, columns, "result")
        repeats = _column(row, columns, "stats_repeat")
        values = values if isinstance(values, list) else [values]
        repeats = repeats if isinstance(repeats, list) else [repeats] * len(values)
        counts = [count or 0 for value, count in zip(values, repeats, strict=False)
                  if not _is_na(value)]
        if counts and min(counts) < MIN_SAMPLES:
            short.append(f"{name} ({min(counts)})")
    if short:
        problems.append(f"{len(short)} time benchmark(s) with fewer than {MIN_SAMPLES} samples "
                        f"(a --quick or reduced run), e.g. {', '.join(short[:3])}")
    return problems


def check(conf: dict, allow_existing: bool = False, out=sys.stdout,
          machine: str | None = HISTORY_MACHINE) -> int:
    """Print every result file that must not be published (``machine``: the only machine name
    allowed, None for any); return how many there are."""
    results = Path(conf["results_dir"])
    try:
        benchmarks = json.loads((results / "benchmarks.json").read_text())
    except FileNotFoundError:
        print(f"no results in {results}: run `python -m benchmarks.history record` first",
              file=out)
        return 1
    types = {name: info.get("type") for name, info in benchmarks.items()
             if isinstance(info, dict)}
    bad = total = 0
    for path in sorted(results.glob("*/*.json")):
        if path.name == "machine.json":
            continue
        total += 1
        data = json.loads(path.read_text())
        problems = result_problems(data, types, allow_existing)
        result_machine = data.get("params", {}).get("machine", path.parent.name)
        if machine is not None and result_machine != machine:
            problems.append(f"measured on machine {result_machine!r}: the history keeps only "
                            f"{machine!r}'s results (record --machine)")
        if problems:
            bad += 1
            print(f"{path.relative_to(results)}:", file=out)
            for problem in problems:
                print(f"  {problem}", file=out)
            print(f"  drop it: asv rm -y commit_hash={data.get('commit_hash', '?')} "
                  f"machine={result_machine} python={data.get('python', '*')}", file=out)
    print(f"{total - bad} of {total} result file(s) may be published", file=out)
    return bad


# asv 0.6's graphdisplay.js plots a string parameter as the x-axis in flot's "categories" mode:
# the x values stay strings, which the flot-orderBars plugin (loaded by asv's index.html) reads
# to space the bars of several series (series.data[0][0] minus the last x): NaN, so nothing is
# drawn once two or more series are selected. The patch gives flot numeric positions 0..n-1 (in
# the order of the parameter's values) with the labels as ticks; orderBars then groups the bars,
# left-aligned as its offsets assume (centred on the tick), and a hook drops the bars of n/a
# values that its shift would draw flat at 0. Nothing reads the label back from a data point:
# the hover tooltip looks x up as a revision, with positions as with flot's category indices.
# The anchor is asv's code, verbatim; a graphdisplay.js without it (another asv) is left alone.
_GRAPHDISPLAY_CATEGORIES = """\
                options.xaxis.mode = 'categories';
                options.xaxis.tickLength = 0;
                options.series = {
                    bars: {
                        show: true,
                        barWidth: 0.6 / graphs.length,
                        align: "center"
                    }
                };

                // deep copy graphs and html-escape x-labels
                graphs = $.extend(true, [], orig_graphs);
                $.each(graphs, function(i, graph) {
                    $.each(graph.data, function(j, point) {
                        point[0] = $("<span>").text('' + point[0]).html();
                    });
                });
"""
_GRAPHDISPLAY_MARKER = "minisam: numeric category positions"
_GRAPHDISPLAY_POSITIONS = "                /* " + _GRAPHDISPLAY_MARKER + """ (history.py):
                   flot-orderBars spaces the bars of several series from their raw x values,
                   NaN in flot's 'categories' mode: plot each value at its position among the
                   parameter's values instead, labelled by (html-escaped) ticks. */
                options.xaxis.tickLength = 0;
                options.series = {
                    bars: {
                        show: true,
                        barWidth: 0.6 / graphs.length,
                        // orderBars' offsets centre a group of left-aligned bars on its tick
                        align: graphs.length > 1 ? "left" : "center"
                    }
                };
                var x_labels = [];
                $.each($.asv.main_json.benchmarks[current_benchmark].params[x_coordinate_axis-1],
                       function(k, value) {
                    x_labels.push('' + $.asv.convert_benchmark_param_value(value));
                });
                options.xaxis.ticks = [];
                $.each(x_labels, function(k, label) {
                    options.xaxis.ticks.push([k, $("<span>").text(label).html()]);
                });
                options.xaxis.min = -0.5;
                options.xaxis.max = x_labels.length - 0.5;
                // orderBars shifts the (null) x of an n/a value too, which flot then draws as
                // a flat bar at 0: clear it again (the options' hooks run after the plugins').
                options.hooks = {processDatapoints: [function(plot, series, datapoints) {
                    var points = datapoints.points;
                    for (var k = 0; k + 1 < points.length; k += datapoints.pointsize) {
                        if (points[k + 1] == null) {
                            points[k] = null;
                        }
                    }
                }]};

                // deep copy graphs, x values -> positions
                graphs = $.extend(true, [], orig_graphs);
                $.each(graphs, function(i, graph) {
                    $.each(graph.data, function(j, point) {
                        point[0] = x_labels.indexOf('' + point[0]);
                    });
                });
"""


def patch_graphdisplay(path: str | Path, out=sys.stdout) -> bool:
    """Patch the published asv ``graphdisplay.js`` at ``path`` so that a string parameter as
    the x-axis is plotted at numeric positions (see above); True when the file has the patch
    (now or already). A file without asv 0.6's category code is left unchanged, with a
    warning."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        print(f"warning: {path} not patched ({error}): with several series selected, a string "
              f"parameter as the x-axis draws an empty chart", file=out)
        return False
    if _GRAPHDISPLAY_MARKER in text:
        return True
    if text.count(_GRAPHDISPLAY_CATEGORIES) != 1:
        print(f"warning: {path} not patched: it lacks the category x-axis code of asv 0.6 "
              f"(another asv version?); with several series selected, a string parameter as "
              f"the x-axis may draw an empty chart", file=out)
        return False
    path.write_text(text.replace(_GRAPHDISPLAY_CATEGORIES, _GRAPHDISPLAY_POSITIONS),
                    encoding="utf-8")
    print(f"patched {path}: string x-axes plot several series", file=out)
    return True


def _skipped_at(results_dir: str | Path, commit: str) -> dict:
    """For each benchmark that asv ran at ``commit`` (result files under ``results_dir``): the
    indices of its parameter combinations recorded as skipped (``n/a``: NaN; a failure is
    null)."""
    skipped: dict = {}
    for path in sorted(Path(results_dir).glob("*/*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        if not str(data.get("commit_hash", "")).startswith(commit):
            continue
        columns = data.get("result_columns", [])
        for name, row in data.get("results", {}).items():
            values = _column(row, columns, "result")
            values = values if isinstance(values, list) else [values]
            skipped.setdefault(name, set()).update(
                i for i, value in enumerate(values)
                if isinstance(value, float) and math.isnan(value))
    return skipped


def _combinations(info: dict) -> int:
    return math.prod(len(values) for values in info.get("params", [])) if info.get("params") \
        else 1


def published_problems(html_dir: str | Path, commit: str, results_dir: str | Path) -> list[str]:
    """Why the dashboard that ``asv publish`` wrote to ``html_dir`` is incomplete for
    ``commit`` (a full or abbreviated hash); empty when it is complete. Every benchmark of its
    ``index.json`` needs a graph file (``graphs/<parameters>/<benchmark>.json``, lists of
    ``[revision, value]``) with a point at the commit's revision whose value (a list, one per
    parameter combination, for a parametrised benchmark) is null only where the results in
    ``results_dir`` record that combination as skipped at the commit; a benchmark skipped
    altogether may have no point."""
    html_dir = Path(html_dir)
    try:
        index = json.loads((html_dir / "index.json").read_text())
    except (OSError, ValueError) as error:
        return [f"no readable index.json in {html_dir} ({error})"]
    revisions = [int(rev) for rev, full in index.get("revision_to_hash", {}).items()
                 if str(full).startswith(commit)]
    if len(revisions) != 1:
        return [f"commit {commit} is not among the published revisions"]
    revision = revisions[0]
    skipped = _skipped_at(results_dir, commit)
    benchmarks = index.get("benchmarks", {})
    if not benchmarks:
        return [f"{html_dir / 'index.json'} lists no benchmarks"]
    graphs = html_dir / "graphs"
    problems = []
    for name, info in sorted(benchmarks.items()):
        n = _combinations(info)
        all_skipped = len(skipped.get(name, ())) == n
        files = [path for path in graphs.rglob(f"{name}.json")
                 if path.relative_to(graphs).parts[0] != "summary"]
        values = [point[1] for path in files for point in json.loads(path.read_text())
                  if isinstance(point, list) and len(point) == 2 and point[0] == revision]
        if not files and not all_skipped:
            problems.append(f"{name}: no graph file under {graphs}")
            continue
        if not values:
            if not all_skipped:
                problems.append(f"{name}: no data point for {commit[:8]} (revision {revision})")
            continue
        for value in values:
            value = value if isinstance(value, list) else [value]
            missing = [i for i, v in enumerate(value)
                       if _is_na(v) and i not in skipped.get(name, ())]
            if len(value) != n:
                problems.append(f"{name}: {len(value)} values at {commit[:8]}, expected {n}")
            elif missing:
                labels = [", ".join(map(str, combo)) for combo in _param_labels(info)]
                problems.append(f"{name}: no value at {commit[:8]} for "
                                + "; ".join(f"({labels[i]})" for i in missing[:3])
                                + " (not recorded as skipped)")
    return problems


def _param_labels(info: dict) -> list:
    combos: list = [()]
    for values in info.get("params", []):
        combos = [(*combo, value) for combo in combos for value in values]
    return combos


def _html_dir(conf: dict, publish_args: list[str]) -> Path:
    """Where ``asv publish`` writes: its --html-dir/-o option, else the configuration's."""
    html_dir = conf["html_dir"]
    for i, arg in enumerate(publish_args):
        if arg in ("--html-dir", "-o") and i + 1 < len(publish_args):
            html_dir = publish_args[i + 1]
        elif arg.startswith("--html-dir="):
            html_dir = arg.split("=", 1)[1]
    return Path(html_dir)


def _asv(conf_path: str, *args: str) -> int:
    command = [sys.executable, "-m", "asv", *args, "--config", conf_path]
    print("+", " ".join(command), flush=True)
    return subprocess.call(command)


def _known_machines() -> dict:
    """The machine descriptions in asv's ``~/.asv-machine.json`` (empty where there is none)."""
    try:
        return json.loads((Path.home() / ".asv-machine.json").read_text())
    except (OSError, ValueError):
        return {}


def _asv_plain(*args: str) -> int:
    command = [sys.executable, "-m", "asv", *args]
    print("+", " ".join(command), flush=True)
    return subprocess.call(command)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="asv.conf.json", help="asv configuration file")
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="full asv runs, samples kept")
    record.add_argument("range", nargs="*", default=["NEW"],
                        help="commits, as asv run takes them (default: NEW)")
    record.add_argument("--machine", default=HISTORY_MACHINE,
                        help=f"machine name of the results (default: {HISTORY_MACHINE})")
    for name in ("check", "publish"):
        sub = commands.add_parser(name, help=f"{name} the recorded results")
        sub.add_argument("--allow-existing", action="store_true",
                         help="accept results measured in an existing environment")
        sub.add_argument("--machine", default=HISTORY_MACHINE,
                         help=f"the only machine name accepted (default: {HISTORY_MACHINE})")
    verify = commands.add_parser("verify-published",
                                 help="check that a published dashboard is complete for a commit")
    verify.add_argument("html_dir", help="where asv publish wrote the dashboard")
    verify.add_argument("commit", help="the commit just run (full or abbreviated hash)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    conf = load_conf(args.config)

    if args.command == "verify-published":
        problems = published_problems(args.html_dir, args.commit, conf["results_dir"])
        for problem in problems:
            print(problem)
        print(f"{args.html_dir}: " + (f"{len(problems)} problem(s): incomplete" if problems else
                                      f"complete for {args.commit[:8]}"))
        return 1 if problems else 0
    if args.command == "record":
        if {"--quick", "-q", "--dry-run", "-n"} & set(extra):
            parser.error("record makes full runs: no --quick (-q) or --dry-run (-n)")
        if any(arg == "--machine" or arg.startswith("--machine=") for arg in extra):
            parser.error("record --machine NAME, before --")
        status = 0
        if args.machine not in _known_machines():
            status = _asv_plain("machine", "--yes", "--machine", args.machine)
        for commits in args.range:
            status = _asv(args.config, "run", "--record-samples", "--machine", args.machine,
                          *extra, commits) or status
        return status or (1 if check(conf, machine=args.machine) else 0)
    bad = check(conf, allow_existing=args.allow_existing, machine=args.machine)
    if args.command == "check" or bad:
        if bad and args.command == "publish":
            print("not published: drop or rerun the results above (README, \"Benchmarks\")")
        return 1 if bad else 0
    status = _asv(args.config, "publish", *extra)
    if status == 0:
        patch_graphdisplay(_html_dir(conf, extra) / "graphdisplay.js")
    return status


if __name__ == "__main__":
    sys.exit(main())
