"""Instruction-set variants of the compiled Cython kernels, and the choice among them.

The build compiles ``csrc/_cython_kernels.pyx`` once per *variant* (see ``CMakeLists.txt``)
into ``minisam._cython_kernels_<variant>``:

- ``native``: a source build tuned for the building machine (``-march=native``), the only
  variant such a build has;
- ``baseline``: portable (wheels), for any CPU of the architecture;
- ``x86-64-v3`` (AVX2, FMA) and ``x86-64-v4`` (AVX-512): extra variants of x86-64 wheels.

A module compiled for an instruction set the CPU lacks may crash the process as soon as it is
loaded, so :func:`load` asks the CPU first (the baseline variant reads CPUID/XGETBV) and imports
the most capable variant both the CPU and the OS support. ``MINISAM_KERNELS`` names the variant
to load instead, e.g. to compare variants or rule one out; asking for one this build lacks or
this CPU cannot run raises ``ImportError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

__all__ = ["VARIANTS", "installed_variants", "load", "load_variant", "runnable_variants"]

#: Portable variants, most capable first, and the x86-64 level (``x86_64_level()``) each needs.
_PORTABLE = {"x86-64-v4": 4, "x86-64-v3": 3, "baseline": 0}
#: Every variant a build can have.
VARIANTS = ("native", *_PORTABLE)


def _module_name(variant: str) -> str:
    return f"minisam._cython_kernels_{variant.replace('-', '_')}"


def installed_variants() -> list[str]:
    """The variants this build has (without loading any)."""
    return [v for v in VARIANTS if importlib.util.find_spec(_module_name(v)) is not None]


def _import(variant: str) -> ModuleType:
    return importlib.import_module(_module_name(variant))


def runnable_variants() -> list[str]:
    """The installed variants this CPU and OS can run, most capable first."""
    installed = installed_variants()
    if "native" in installed:  # a native build has nothing else
        return ["native"]
    if "baseline" not in installed:
        return []
    level = _import("baseline").x86_64_level()
    return [v for v, needed in _PORTABLE.items() if v in installed and level >= needed]


def load_variant(variant: str) -> ModuleType:
    """Import one variant, after checking that this build has it and this CPU can run it."""
    if variant not in VARIANTS:
        raise ImportError(f"unknown kernel variant {variant!r}; variants: {list(VARIANTS)}")
    installed = installed_variants()
    if variant not in installed:
        raise ImportError(f"kernel variant {variant!r} is not in this build, which has "
                          f"{installed or 'none'}")
    if variant not in runnable_variants():
        level = _import("baseline").x86_64_level()
        raise ImportError(f"kernel variant {variant!r} needs an x86-64 level-"
                          f"{_PORTABLE[variant]} CPU; this one is level {level}")
    return _import(variant)


def load() -> tuple[str, ModuleType]:
    """Import the variant to use here: ``(name, module)``. See the module docstring."""
    forced = os.environ.get("MINISAM_KERNELS", "").strip()
    if forced:
        try:
            return forced, load_variant(forced)
        except ImportError as exc:
            raise ImportError(f"MINISAM_KERNELS={forced!r}: {exc}") from None
    runnable = runnable_variants()
    if not runnable:
        raise ImportError("minisam's compiled Cython kernels are not installed (no "
                          "minisam._cython_kernels_* module)")
    return runnable[0], _import(runnable[0])
