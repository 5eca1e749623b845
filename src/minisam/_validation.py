"""Argument checks shared by the public API.

Every check runs before any work and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (right kind, wrong value) with a message that names the argument and says what
was expected. Nothing here silently drops information: complex numbers, non-numeric arrays and
integers too large to be represented exactly in the model's float type are refused.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

__all__ = [
    "check_dtype",
    "check_positive_int",
    "check_positive_real",
    "check_data",
    "check_data_shape",
    "check_vector",
    "check_choice",
    "check_flag",
    "check_seed",
    "dask_online_error",
    "is_dask",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} "
                        f"{value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_real(name: str, value) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive finite number, got "
                        f"{type(value).__name__} {value!r}")
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond the float range
        as_float = math.inf
    if not math.isfinite(as_float) or as_float <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return as_float


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of the strings in ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {sorted(choices)}, got {type(value).__name__} "
                        f"{value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_flag(name: str, value) -> bool:
    """Return ``value`` as a ``bool`` if it is ``True`` or ``False`` (NumPy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_dtype(name: str, value) -> np.dtype:
    """Return the NumPy dtype for ``value`` if it is float32 or float64."""
    try:
        dtype = np.dtype(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be numpy.float32 or numpy.float64, got {value!r}") from exc
    if dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be numpy.float32 or numpy.float64, got {dtype}")
    return dtype


def check_seed(name: str, value):
    """Accept ``None`` or a non-negative integer seed."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None or a non-negative integer, got "
                        f"{type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be None or a non-negative integer, got {value!r}")
    return int(value)


def _as_float_array(name: str, value, dtype: np.dtype) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences end up here
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {array.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {array.dtype}")
    if kind in "iu" and array.size:
        # Integers beyond 2**mantissa would be rounded: refuse rather than change the data.
        limit = 2 ** (np.finfo(dtype).nmant + 1)
        if max(abs(int(array.min())), abs(int(array.max()))) > limit:
            raise ValueError(f"{name} holds integers larger than {limit} in magnitude, which "
                             f"{dtype} cannot represent exactly")
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(array, dtype=dtype)
    return converted


def _check_finite(name: str, array: np.ndarray, nan_policy: str | None = None) -> None:
    """Refuse NaN and infinity; under ``nan_policy='mask'`` refuse infinity and rows (of a 2-D
    array) or vectors with no observed value, NaN being a missing value."""
    if nan_policy == "mask":
        infinite = np.isinf(array)
        if infinite.any():
            bad = np.argwhere(infinite)[0]
            where = ", ".join(str(int(i)) for i in bad)
            raise ValueError(f"{name} must not contain infinity (after conversion to "
                             f"{array.dtype}; NaN marks a missing value under "
                             f"nan_policy='mask'); found {array[tuple(bad)]} at index ({where})")
        missing = np.isnan(array)
        if array.ndim == 1 and array.size and missing.all():
            raise ValueError(f"{name} has no observed value (every entry is NaN): nothing to "
                             f"match it on")
        if array.ndim == 2 and array.shape[1]:
            empty = np.flatnonzero(missing.all(axis=1))
            if empty.size:
                raise ValueError(f"{name} row {int(empty[0])} has no observed value (every "
                                 f"entry is NaN; {empty.size} such row(s)): drop it, it has no "
                                 f"best-matching unit")
        return
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        where = ", ".join(str(int(i)) for i in bad)
        hint = (" (nan_policy='mask' treats NaN as missing values)"
                if nan_policy == "raise" and np.isnan(array[tuple(bad)]) else "")
        raise ValueError(f"{name} must contain only finite values (after conversion to "
                         f"{array.dtype}); found {array[tuple(bad)]} at index ({where}){hint}")


def check_data(name: str, value, input_len: int, dtype: np.dtype, *,
               nan_policy: str | None = None) -> np.ndarray:
    """Return ``value`` as a C-contiguous ``(n_samples, input_len)`` array of ``dtype``.

    Raises if it is not 2-D, has no rows, has the wrong number of columns, is not numeric or
    holds NaN or infinity (including values that overflow ``dtype``). Under
    ``nan_policy='mask'`` NaN entries are missing values and pass, but infinity and rows
    with no observed value do not; ``'raise'`` (MiniSam's default) points to that option
    when it finds a NaN.
    """
    array = _as_float_array(name, value, dtype)
    check_data_shape(name, array.shape, input_len)
    _check_finite(name, array, nan_policy)
    return array


def check_data_shape(name: str, shape: tuple, input_len: int) -> None:
    """Refuse a data ``shape`` that is not ``(n_samples >= 1, input_len)``."""
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, {input_len}), got "
                         f"an array with {len(shape)} dimension(s) and shape {shape}")
    if shape[0] < 1:
        raise ValueError(f"{name} must have at least one row, got shape {shape}")
    if shape[1] != input_len:
        raise ValueError(f"{name} must have {input_len} columns (input_len), got shape "
                         f"{shape}")


def check_vector(name: str, value, input_len: int, dtype: np.dtype, *,
                 nan_policy: str | None = None) -> np.ndarray:
    """Return ``value`` as a contiguous 1-D array of ``input_len`` finite values (NaN allowed
    as missing values, not all of them, under ``nan_policy='mask'``)."""
    array = _as_float_array(name, value, dtype)
    if array.ndim != 1 or array.shape[0] != input_len:
        raise ValueError(f"{name} must be a 1-D array of {input_len} values (input_len), got "
                         f"shape {array.shape}")
    _check_finite(name, array, nan_policy)
    return array


def is_dask(value) -> bool:
    """Whether ``value`` is a Dask collection (array, DataFrame, ...), without importing Dask.

    Dask is never imported by ``import minisam``: an object is recognised by the module its
    class comes from (``dask.array.core``, ``dask.dataframe...``), which can only be a Dask
    module if the caller already imported Dask.
    """
    module = type(value).__module__ or ""
    return (module == "dask" or module.startswith("dask.")) and "dask" in sys.modules


def dask_online_error(method: str, batch_method: str) -> TypeError:
    """The ``TypeError`` online training raises for Dask input: it points to batch training."""
    return TypeError(f"{method} does online training, one sample at a time, which cannot run "
                     f"on a Dask collection; use {batch_method}, which trains on Dask arrays "
                     f"with one pass over the data per epoch (or pass a NumPy array)")
