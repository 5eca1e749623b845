"""Compile the kernels' C for the wheel targets this machine cannot build for.

    python check_c_targets.py           (needs the ``ziglang`` package: Clang with the libc
                                         headers of Windows (MinGW), macOS and musl)

cibuildwheel's macOS, Windows, musllinux and aarch64 builds only run on their own runners.
Their Cython layer is target-neutral; the platform-specific code is the verbatim C in
``csrc/_cython_kernels.pyx`` (vector extensions, atomics, aligned allocation, yielding, CPUID).
This script extracts that C, adds functions that call every kernel entry point (so that Clang
generates code for them, vector lowering included) and compiles it for each target with
warnings as errors. A target's Python headers are not needed for that.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

PYX = Path(__file__).resolve().parents[1] / "csrc" / "_cython_kernels.pyx"

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

PROBES = """
double probe_d(double *p, const double *v, const double *g, double *d) {
    return ms_row_d(p, 64, 3, 2, 0, 2, v, v, g, g, d) + ms_row_d(p, 64, 70, 2, 0, 1, v, v, g, g, d)
           + (double)ms_argmin_d(v, v, 20) + ms_tie_limit(v[0]);
}
float probe_f(float *p, const float *v, const float *g, float *d) {
    return ms_row_f(p, 64, 3, 2, 0, 2, v, v, g, g, d) + ms_row_f(p, 64, 70, 2, 0, 1, v, v, g, g, d)
           + (float)ms_argmin_f(v, v, 20);
}
void probe_search(const double *x, const double *w, const float *xf, const float *wf, char *st,
                  int64_t *best, int64_t *second, ptrdiff_t *k2) {
    ms_search_own_d(x, 9, 5, w, w, 64, st, best, second);
    ms_search_own_f(xf, 9, 5, wf, wf, 64, st, best, second);
    ms_top2_d(x, w, 30, k2);
    ms_top2_f(xf, wf, 30, k2);
}
int probe_runtime(ms_barrier_t *bar, int *sense) {
    ms_barrier_wait(bar, sense, 2);
    ms_aligned_free(ms_aligned_alloc(64, 64));
    return ms_x86_64_level();
}
"""


def kernel_c() -> str:
    """The verbatim C blocks of the .pyx, dedented, followed by the probes."""
    text = PYX.read_text()
    blocks = re.findall(r'cdef extern from \*(?: nogil)?:\n    r?"""\n(.*?)\n    """', text, re.S)
    if len(blocks) != 2:
        raise SystemExit(f"expected 2 verbatim C blocks in {PYX}, found {len(blocks)}")
    body = "\n".join(line[4:] for block in blocks for line in block.split("\n"))
    return "#include <stddef.h>\n#include <stdint.h>\n" + body + PROBES


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kernels.c"
        source.write_text(kernel_c())
        for target in TARGETS:
            command = [sys.executable, "-m", "ziglang", "cc", "-target", *target, "-O2", "-c",
                       "-Wall", "-Werror", "-Wno-unused-function", "-ffp-contract=off",
                       str(source), "-o", str(Path(tmp) / "kernels.o")]
            result = subprocess.run(command, capture_output=True, text=True)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"{status}: {' '.join(target)}")
            if result.returncode != 0:
                failures += 1
                print(result.stderr[-3000:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
