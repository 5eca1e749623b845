"""Check the cibuildwheel configuration in pyproject.toml without building anything.

    python check_cibuildwheel.py path/to/cibuildwheel

Only the Linux recipe can run on this machine (by hand, in .ci/dist-check); macOS and Windows
wheels need their own runners. What can be checked here is checked: cibuildwheel parses the
configuration and selects exactly CPython 3.10-3.13 on the intended platforms and
architectures, and every platform builds portable kernels (MINISAM_NATIVE=OFF) and runs the
smoke test. Run from the repository root.
"""

from __future__ import annotations

import subprocess
import sys

import tomllib

PYTHONS = ["cp310", "cp311", "cp312", "cp313"]
EXPECTED = {
    "linux": {f"{py}-{libc}_{arch}" for py in PYTHONS for libc in ("manylinux", "musllinux")
              for arch in ("x86_64", "aarch64")},
    "macos": {f"{py}-macosx_arm64" for py in PYTHONS},
    "windows": {f"{py}-win_amd64" for py in PYTHONS},
}


def identifiers(cibuildwheel: str, platform: str) -> set[str]:
    out = subprocess.run([cibuildwheel, "--print-build-identifiers", "--platform", platform],
                         check=True, capture_output=True, text=True).stdout
    return set(out.split())


def main(cibuildwheel: str) -> int:
    failures = []
    for platform, expected in EXPECTED.items():
        found = identifiers(cibuildwheel, platform)
        print(f"{platform}: {' '.join(sorted(found))}")
        if found != expected:
            failures.append(f"{platform}: missing {sorted(expected - found)}, "
                            f"unexpected {sorted(found - expected)}")
    with open("pyproject.toml", "rb") as handle:
        config = tomllib.load(handle)["tool"]["cibuildwheel"]
    # A platform table or override replaces (does not merge) a setting it names.
    scopes = {"global": config, **{p: config.get(p, {}) for p in EXPECTED},
              **{o["select"]: o for o in config.get("overrides", [])}}
    for scope, table in scopes.items():
        settings = table.get("config-settings")
        if settings is not None and settings.get("cmake.define.MINISAM_NATIVE") != "OFF":
            failures.append(f"{scope}: config-settings must keep MINISAM_NATIVE=OFF")
        commands = table.get("test-command")
        if commands is not None and not any("wheel_smoke.py" in c for c in commands):
            failures.append(f"{scope}: test-command must run .ci/wheel_smoke.py")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
