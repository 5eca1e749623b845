"""Reading data files and writing per-sample tables, for the command line (:mod:`minisam.cli`).

Data: ``.npy`` (a 2-D numeric array), ``.csv`` (comma-separated numbers, with or without a
header line; an empty field, ``nan``, ``NA`` or ``NaN`` is a missing value), ``.parquet``
(numeric columns; nulls are missing values; needs pyarrow) and Zarr stores (a directory, or a
path ending in ``.zarr``; read lazily through Dask). Tables: ``.csv``, ``.parquet`` or ``.npy``
(a structured array with one field per column).

Every problem with a file raises :class:`DataError`, whose message names the file and the
problem (the command line prints it as one line).
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

__all__ = ["DATA_FORMATS", "TABLE_FORMATS", "DataError", "check_table_path", "read_data",
           "write_table"]

DATA_FORMATS = (".npy", ".csv", ".parquet", ".zarr")
TABLE_FORMATS = (".csv", ".parquet", ".npy")
#: CSV fields read as a missing value.
MISSING = ("", "nan", "NaN", "NAN", "NA", "N/A", "null")


class DataError(ValueError):
    """A data file that cannot be read, or a table that cannot be written."""


def _kind(path: str, formats) -> str:
    if ".zarr" in formats and (os.path.isdir(path) or path.rstrip("/").endswith(".zarr")):
        return ".zarr"
    extension = os.path.splitext(path)[1].lower()
    if extension not in formats:
        raise DataError(f"{path}: unknown file type {extension or '(no extension)'!r}; "
                        f"expected one of {', '.join(formats)}")
    return extension


def read_data(path, *, lazy: bool = False):
    """The samples in ``path`` as a 2-D float64 array (NaN for missing values).

    With ``lazy=True`` a Zarr store is returned as a Dask array (chunked along the rows, for
    out-of-core training); otherwise it is read into memory.
    """
    path = os.fspath(path)
    kind = _kind(path, DATA_FORMATS)
    if kind != ".zarr" and not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if kind == ".npy":
        array = _read_npy(path)
    elif kind == ".csv":
        array = _read_csv(path)
    elif kind == ".parquet":
        array = _read_parquet(path)
    else:
        return _read_zarr(path, lazy)
    return _checked(path, array)


def _checked(path, array):
    if array.ndim != 2:
        raise DataError(f"{path}: expected a 2-D table of samples x features, got an array of "
                        f"shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{path}: no data (shape {array.shape})")
    return array


def _read_npy(path):
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from exc
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numbers, got an array of dtype {array.dtype}")
    return _as_float64(path, array)


def _as_float64(path, array):
    if array.dtype.kind in "iu" and array.size and \
            int(np.abs(array).max()) > 2 ** 53:
        raise DataError(f"{path}: integers beyond 2**53 cannot be represented exactly as "
                        f"float64")
    return np.ascontiguousarray(array, dtype=np.float64)


def _number(text: str) -> float | None:
    field = text.strip()
    if field in MISSING:
        return math.nan
    try:
        return float(field)
    except ValueError:
        return None


def _read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        first = next((row for row in csv.reader(handle) if row and any(f.strip() for f in row)),
                     None)
    if first is not None:
        header = any(_number(field) is None for field in first)
        try:  # the fast path (NumPy's C parser): plain numbers, no missing fields
            values = np.loadtxt(path, delimiter=",", skiprows=int(header), ndmin=2,
                                dtype=np.float64, encoding="utf-8-sig", comments=None)
        except ValueError:
            pass  # missing fields, ragged lines or text: the careful parser below says where
        else:
            if values.shape[0] and values.shape[1] == len(first):
                return values
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(f.strip() for f in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = any(_number(field) is None for field in rows[0])
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path}: a header line but no data")
    width = len(rows[0])
    values = np.empty((len(body), width), dtype=np.float64)
    first_line = 2 if header else 1
    for n, row in enumerate(body):
        if len(row) != width:
            raise DataError(f"{path}, line {n + first_line}: {len(row)} columns, expected "
                            f"{width}")
        for k, field in enumerate(row):
            value = _number(field)
            if value is None:
                raise DataError(f"{path}, line {n + first_line}, column {k + 1}: "
                                f"{field.strip()!r} is not a number")
            values[n, k] = value
    return values


def _pyarrow(path):
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise DataError(f"{path}: Parquet files need pyarrow: pip install "
                        f"'minisam[parquet]'") from exc
    return pyarrow


def _read_parquet(path):
    pyarrow = _pyarrow(path)
    try:
        table = pyarrow.parquet.read_table(path)
    except (pyarrow.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if not (pyarrow.types.is_integer(kind) or pyarrow.types.is_floating(kind)
                or pyarrow.types.is_boolean(kind)):
            raise DataError(f"{path}: column {name!r} is {kind}, expected numbers")
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "O":  # integers with nulls
            values = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        columns.append(_as_float64(path, values))
    if not columns:
        raise DataError(f"{path}: no columns")
    return np.column_stack(columns)


def _read_zarr(path, lazy):
    try:
        import dask.array as da
    except ImportError as exc:
        raise DataError(f"{path}: Zarr stores are read through Dask: pip install "
                        f"'minisam[dask]'") from exc
    if not os.path.exists(path):
        raise DataError(f"{path}: no such Zarr store")
    try:
        array = da.from_zarr(path)
    except Exception as exc:  # zarr raises its own error types for what is not a store
        raise DataError(f"{path}: not a readable Zarr array ({type(exc).__name__}: "
                        f"{exc})") from exc
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numbers, got a Zarr array of dtype {array.dtype}")
    _checked(path, array)
    if lazy:
        return array
    return _as_float64(path, array.compute())


def check_table_path(path) -> str:
    """The table format of ``path`` (``'.csv'``, ``'.parquet'``, ``'.npy'``), or a
    :class:`DataError` for another extension or a folder that does not exist."""
    path = os.fspath(path)
    kind = _kind(path, TABLE_FORMATS)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DataError(f"{path}: folder {folder} does not exist")
    return kind


def write_table(path, columns: dict[str, np.ndarray]) -> None:
    """Write named 1-D columns of equal length to ``path`` (``.csv``, ``.parquet``, ``.npy``),
    or as CSV to standard output when ``path`` is ``'-'``."""
    path = os.fspath(path)
    if path == "-":
        import sys

        _write_csv(sys.stdout, columns)
        return
    kind = check_table_path(path)
    if kind == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, columns)
    elif kind == ".npy":
        table = np.empty(len(next(iter(columns.values()))),
                         dtype=[(name, values.dtype) for name, values in columns.items()])
        for name, values in columns.items():
            table[name] = values
        np.save(path, table, allow_pickle=False)
    else:
        pyarrow = _pyarrow(path)
        pyarrow.parquet.write_table(pyarrow.table(dict(columns)), path)


def _write_csv(handle, columns):
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(list(columns))
    formatted = [values.tolist() if values.dtype.kind in "iu" else [repr(float(v)) for v in values]
                 for values in columns.values()]
    writer.writerows(zip(*formatted, strict=True))
