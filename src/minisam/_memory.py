"""Memory checks before large allocations.

A map or a call whose arrays cannot fit should fail at once with the size it needs, not after
minutes of swapping or with NumPy's bare ``MemoryError``. :func:`check_fits` compares the bytes
an allocation needs with the memory the system reports available (``MemAvailable`` on Linux,
else the physical memory) and raises ``MemoryError`` naming both.
"""

from __future__ import annotations

import os

__all__ = ["available_bytes", "check_fits", "format_bytes"]


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def available_bytes() -> int | None:
    """Memory available to a new allocation in bytes, or None if the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(what: str, n_bytes: int) -> None:
    """Raise ``MemoryError`` if ``n_bytes`` (the memory ``what`` needs) exceeds the memory
    available."""
    available = available_bytes()
    if available is not None and n_bytes > available:
        raise MemoryError(f"{what} needs {format_bytes(n_bytes)} of memory, more than the "
                          f"{format_bytes(available)} available")
