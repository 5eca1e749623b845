"""A minimal PNG writer, so the demos can save images without an imaging dependency."""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["save_rgb_png"]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def save_rgb_png(path, image, *, scale: int = 1) -> None:
    """Write an ``(height, width, 3)`` array of values in [0, 1] as an 8-bit RGB PNG.

    Values are clipped to [0, 1]. ``scale`` repeats every pixel into a ``scale`` x ``scale``
    block, which makes small maps visible.
    """
    rgb = np.asarray(image, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must have shape (height, width, 3), got {rgb.shape}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    pixels = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    height, width = pixels.shape[:2]
    # Each scanline starts with filter type 0 (no filter).
    raw = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(_chunk(b"IHDR", header))
        handle.write(_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)))
        handle.write(_chunk(b"IEND", b""))
