"""Check an sdist: everything a source build needs is in it, and nothing generated is.

    python check_sdist.py dist/minisam-X.Y.Z.tar.gz

"Needed" is every git-tracked file under src/ and csrc/ plus the build files; "generated" is
compiled output, Cython's C, caches and build trees. Run from the repository (uses git).
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tarfile
from pathlib import Path

BUILD_FILES = ["pyproject.toml", "CMakeLists.txt", "LICENSE", "README.md", "PKG-INFO"]
GENERATED = ["*.so", "*.pyd", "*.dll", "*.dylib", "*.o", "*.c", "*.pyc", "*/__pycache__/*",
             "build/*", "dist/*", "wheelhouse/*", ".asv/*", ".venv/*", "*.egg-info/*",
             ".pytest_cache/*", ".ruff_cache/*", "demo-output/*"]


def main(path: str) -> int:
    repo = Path(__file__).resolve().parents[1]
    with tarfile.open(path) as sdist:
        names = [m.name for m in sdist.getmembers() if m.isfile()]
    top = {name.split("/", 1)[0] for name in names}
    if len(top) != 1:
        print(f"the sdist must have one top-level folder, found {sorted(top)}")
        return 1
    prefix = top.pop() + "/"
    files = {name[len(prefix):] for name in names}

    tracked = subprocess.run(["git", "ls-files", "src", "csrc"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout.split()
    missing = [name for name in [*BUILD_FILES, *tracked] if name not in files]
    generated = sorted(name for name in files
                       if any(fnmatch.fnmatch(name, pattern) for pattern in GENERATED))
    print(f"{path}: {len(files)} files, {Path(path).stat().st_size // 1024} KiB")
    for name in sorted(files):
        print(f"  {name}")
    if missing:
        print(f"MISSING from the sdist: {missing}")
    if generated:
        print(f"GENERATED files in the sdist: {generated}")
    if "src/minisam/py.typed" not in files:
        print("MISSING: src/minisam/py.typed")
        return 1
    return 1 if missing or generated else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
