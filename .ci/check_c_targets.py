"""Compile the kernels' C headers for the wheel targets, warnings as errors.

    python check_c_targets.py           (needs the ``ziglang`` package: Clang with the libc
                                         headers of Windows (MinGW), macOS and musl)

cibuildwheel's macOS, Windows, musllinux and aarch64 builds only run on their own runners.
Their Cython layer is target-neutral; the platform-specific code is the C in the headers
``csrc/ms_*.h`` (vector extensions, atomics, aligned allocation, yielding, CPUID) that
``csrc/_cython_kernels.pyx`` includes. This script compiles a probe translation unit that
includes every header and calls every kernel entry point (so that the compiler generates code
for them, vector lowering included) for each target with ``-Wall -Wextra -Werror``, and also
with this machine's own C compiler (``$CC`` or ``cc``, GCC here) at each x86-64 level it
supports, with and without OpenMP. A target's Python headers are not needed for that.
(The Cython-generated C of the module itself is not held to these warnings.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CSRC = Path(__file__).resolve().parents[1] / "csrc"
HEADERS = ["ms_platform.h", "ms_cpu.h", "ms_tie.h", "ms_barrier.h", "ms_vector.h", "ms_bmu.h",
           "ms_online.h", "ms_masked.h", "ms_distance.h"]
WARNINGS = ["-Wall", "-Wextra", "-Werror"]

#: zig targets (plus CPU levels) standing in for the cibuildwheel platforms.
TARGETS = [
    ["x86_64-windows-gnu"],                      # Windows AMD64 (clang-cl there), baseline
    ["x86_64-windows-gnu", "-mcpu=x86_64_v3"],   # ... the AVX2 variant
    ["x86_64-windows-gnu", "-mcpu=x86_64_v4"],   # ... the AVX-512 variant
    ["aarch64-macos"],                           # macOS arm64
    ["x86_64-linux-musl"],                       # musllinux x86_64
    ["aarch64-linux-musl"],                      # musllinux aarch64
    ["aarch64-linux-gnu"],                       # manylinux aarch64
]

#: Extra options for the host compiler: the variants CMakeLists.txt builds, OpenMP on and off.
HOST_FLAGS = [[], ["-march=x86-64-v3"], ["-march=x86-64-v4"], ["-march=native"], ["-fopenmp"]]

# Sizes come in as arguments: constants would let the compiler fold the loops of a probe into
# code (and warnings) that no real call produces.
PROBES = """
double probe_d(double *p, const double *v, const double *g, double *d, ptrdiff_t n) {
    return ms_row_d(p, 64, 3, 2, 0, 2, v, v, g, g, d) + ms_row_d(p, 64, n, 2, 0, 1, v, v, g, g, d)
           + (double)ms_argmin_d(v, v, n) + ms_tie_limit(v[0]);
}
float probe_f(float *p, const float *v, const float *g, float *d, ptrdiff_t n) {
    return ms_row_f(p, 64, 3, 2, 0, 2, v, v, g, g, d) + ms_row_f(p, 64, n, 2, 0, 1, v, v, g, g, d)
           + (float)ms_argmin_f(v, v, n);
}
void probe_search(const double *x, const double *w, const float *xf, const float *wf, char *st,
                  int64_t *best, int64_t *second, ptrdiff_t *k2, ptrdiff_t n) {
    ms_search_own_d(x, n, 5, w, w, 64, st, best, second);
    ms_search_own_f(xf, n, 5, wf, wf, 64, st, best, second);
    ms_top2_d(x, w, n, k2);
    ms_top2_f(xf, wf, n, k2);
}
double probe_masked(const double *x, const double *w, const float *xf, const float *wf,
                    double *s, float *sf, ptrdiff_t *obs, double *sums, ptrdiff_t n) {
    double *xd = s + n;
    float *xg = sf + n;
    ms_zero_missing_d(x, n, xd);
    ms_zero_missing_f(xf, n, xg);
    ms_drop_missing_norms_d(x, n, w, n, s);
    ms_drop_missing_norms_f(xf, n, wf, n, sf);
    ms_masked_move_d(xd, x, obs, ms_observed_d(x, n, obs), 0.5);
    ms_masked_move_f(xg, xf, obs, ms_observed_f(xf, n, obs), 0.5);
    ms_masked_add_d(x, n, sums, sums + n);
    ms_masked_add_f(xf, n, sums, sums + n);
    return ms_masked_d2_d(x, w, n) + ms_masked_d2_f(xf, wf, n)
           + (double)ms_masked_nearest_d(w, n, 3, x, obs, 2)
           + (double)ms_masked_nearest_f(wf, n, 3, xf, obs, 2);
}
int probe_distance(const double *wt, const float *wtf, const double *x, const float *xf,
                   double *out, float *outf, double *w, float *wf, const ms_metric_job *job,
                   ptrdiff_t n, int metric) {
    return (int)ms_metric_search_d(wt, 64, 3, n, x, 1.0, metric, out)
           + (int)ms_metric_search_f(wtf, 64, 3, n, xf, 1.0, metric, outf)
           + ms_train_online_metric_d(w, x, job, 2) + ms_train_online_metric_f(wf, xf, job, 2);
}
int probe_runtime(ms_barrier_t *bar, int *sense) {
    ms_barrier_wait(bar, sense, 2);
    ms_aligned_free(ms_aligned_alloc(64, 64));
    return ms_x86_64_level() + omp_get_max_threads() + omp_get_num_threads() + omp_get_num_procs();
}
"""


def probe_source() -> str:
    """The probe translation unit: every header (each must stand alone), then the probes."""
    missing = [name for name in HEADERS if not (CSRC / name).is_file()]
    if missing:
        raise SystemExit(f"missing headers in {CSRC}: {missing}")
    unlisted = sorted(p.name for p in CSRC.glob("*.h") if p.name not in HEADERS)
    if unlisted:
        raise SystemExit(f"headers not probed (add them to HEADERS): {unlisted}")
    # In reverse dependency order first, so that a header missing an include of its own fails.
    includes = "".join(f'#include "{name}"\n' for name in reversed(HEADERS))
    return includes + PROBES


def compile_one(label: str, command: list[str]) -> bool:
    result = subprocess.run(command, capture_output=True, text=True)
    print(f"{'ok' if result.returncode == 0 else 'FAILED'}: {label}")
    if result.returncode != 0:
        print(result.stderr[-3000:])
    return result.returncode == 0


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "probe.c"
        source.write_text(probe_source())
        obj = str(Path(tmp) / "probe.o")
        common = ["-c", *WARNINGS, f"-I{CSRC}", str(source), "-o", obj]
        for target in TARGETS:
            command = [sys.executable, "-m", "ziglang", "cc", "-target", *target,
                       "-O2", "-ffp-contract=off", *common]
            failures += not compile_one(" ".join(target), command)
        host = os.environ.get("CC") or shutil.which("cc")
        if host is None:
            print("skipped: no host C compiler")
        else:
            for flags in HOST_FLAGS:
                probe = subprocess.run([host, *flags, "-x", "c", "-c", os.devnull, "-o", obj],
                                       capture_output=True)
                if probe.returncode != 0:
                    print(f"skipped: {host} {' '.join(flags)} (not supported here)")
                    continue
                failures += not compile_one(f"{host} {' '.join(flags)}".strip(),
                                            [host, *flags, "-O3", *common])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
