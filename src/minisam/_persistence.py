"""Saving and loading models as ``.npz`` files, without pickle.

A file holds the weights, every hyper-parameter, the random generator's state (as JSON), the
file-format version and the version of minisam that wrote it. Format 2 adds the map's
``topology`` and ``toroidal`` fields; format-1 files (rectangular, planar maps) still load.
Loading uses ``allow_pickle=False`` and checks every field, so a foreign or damaged file raises a
``ValueError`` that says what is wrong instead of executing or half-loading anything.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from minisam._version import __version__

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

FORMAT_NAME = "minisam.MiniSam"
FORMAT_VERSION = 2
#: Formats this version reads, and the defaults of the fields added since format 1.
READABLE_VERSIONS = (1, 2)
_ADDED_IN_2 = {"topology": "rectangular", "toroidal": False}

#: Optional fields (any format version): arrays named with these prefixes are returned, as a
#: dict, under ``fields["drift"]``; the module that writes them checks them on load.
OPTIONAL_PREFIXES = ("drift_",)

_INT_FIELDS = ("x", "y", "input_len")
_FLOAT_FIELDS = ("sigma", "learning_rate")
_STR_FIELDS = ("neighborhood_function", "backend", "rng_state")


def save(path, *, weights, x, y, input_len, sigma, learning_rate, neighborhood_function,
         random_seed, backend, rng_state, topology, toroidal, extra=None) -> None:
    """Write a model file to exactly ``path`` (no extension is added).

    ``extra``: optional arrays whose names start with ``drift_`` (the drift reference, see
    :mod:`minisam._scoring`); files without them load as before.
    """
    fields = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "minisam_version": np.array(__version__),
        "weights": weights,
        "x": np.array(x, dtype=np.int64),
        "y": np.array(y, dtype=np.int64),
        "input_len": np.array(input_len, dtype=np.int64),
        "sigma": np.array(sigma, dtype=np.float64),
        "learning_rate": np.array(learning_rate, dtype=np.float64),
        "neighborhood_function": np.array(neighborhood_function),
        # Decimal text keeps seeds of any size; "" stands for "no seed".
        "random_seed": np.array("" if random_seed is None else str(random_seed)),
        "backend": np.array(backend),
        "rng_state": np.array(rng_state),
        "topology": np.array(topology),
        "toroidal": np.array(bool(toroidal)),
    }
    for name, value in (extra or {}).items():
        if not name.startswith(OPTIONAL_PREFIXES):
            raise ValueError(f"optional model field {name!r} must start with one of "
                             f"{OPTIONAL_PREFIXES}")
        fields[name] = value
    with open(path, "wb") as handle:
        np.savez(handle, **fields)


def _scalar(name, array, kind, source):
    if array.shape != () or array.dtype.kind not in kind:
        raise ValueError(f"{source}: field {name!r} is damaged (dtype {array.dtype}, shape "
                         f"{array.shape})")
    return array.item()


# zipfile raises NotImplementedError for a damaged "version needed" or compression field.
_READ_ERRORS = (OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile,
                zlib.error)


def _read_arrays(path, source) -> dict:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _READ_ERRORS as exc:
        raise ValueError(f"{source} is not a minisam model file: {exc}") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{source} is not a minisam model file (not an .npz archive)")
    try:
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except _READ_ERRORS as exc:
        raise ValueError(f"{source} is damaged: {exc}") from exc


def load(path) -> dict:
    """Read and check a model file; return its fields as Python values and the weights."""
    source = repr(os.fspath(path))
    arrays = _read_arrays(path, source)
    if "format" not in arrays or arrays["format"].shape != () \
            or str(arrays["format"]) != FORMAT_NAME:
        raise ValueError(f"{source} is not a minisam model file (no '{FORMAT_NAME}' marker)")
    version = _scalar("format_version", arrays.get("format_version", np.array("")), "iu", source)
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{source} uses model file format {version}; this minisam "
                         f"({__version__}) reads formats "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    required = ("weights", "random_seed", *_INT_FIELDS, *_FLOAT_FIELDS, *_STR_FIELDS,
                *(_ADDED_IN_2 if version >= 2 else ()))
    missing = [name for name in required if name not in arrays]
    if missing:
        raise ValueError(f"{source} is damaged: missing field(s) {missing}")

    fields: dict = {}
    for name in _INT_FIELDS:
        fields[name] = int(_scalar(name, arrays[name], "iu", source))
    for name in _FLOAT_FIELDS:
        fields[name] = float(_scalar(name, arrays[name], "f", source))
    for name in _STR_FIELDS:
        fields[name] = str(_scalar(name, arrays[name], "U", source))
    seed = str(_scalar("random_seed", arrays["random_seed"], "U", source))
    if seed and not seed.isdigit():
        raise ValueError(f"{source}: field 'random_seed' is damaged ({seed!r})")
    fields["random_seed"] = int(seed) if seed else None
    if version >= 2:
        fields["topology"] = str(_scalar("topology", arrays["topology"], "U", source))
        fields["toroidal"] = bool(_scalar("toroidal", arrays["toroidal"], "b", source))
    else:
        fields.update(_ADDED_IN_2)
    weights = arrays["weights"]
    if weights.dtype not in (np.float32, np.float64) or weights.ndim != 3:
        raise ValueError(f"{source}: weights must be a 3-D float32/float64 array, got "
                         f"dtype {weights.dtype} and shape {weights.shape}")
    fields["weights"] = weights
    fields["minisam_version"] = str(arrays.get("minisam_version", ""))
    fields["drift"] = {name: array for name, array in arrays.items()
                       if name.startswith("drift_")}
    return fields
