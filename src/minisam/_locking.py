"""One lock per model: concurrent calls on one model from several threads run one at a time.

The compiled kernels release the GIL, so two threads can train two models at once, in
parallel and with the serial results (each model's state is its own). Two threads calling
one model at once would otherwise interleave reads and writes of its weights and random
generator; :func:`locked` makes each public method hold the model's re-entrant lock, so such
calls serialize (a callback may call the model's methods from inside a training call).
"""

from __future__ import annotations

import functools
import threading

__all__ = ["locked", "model_lock"]

_CREATE = threading.Lock()


def model_lock(model) -> threading.RLock:
    """The re-entrant lock of ``model``, created on first use (so unpickled and copied models
    get their own)."""
    lock = model.__dict__.get("_lock")
    if lock is None:
        with _CREATE:
            lock = model.__dict__.setdefault("_lock", threading.RLock())
    return lock


def locked(method):
    """Decorate a model method so that it runs holding the model's lock."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with model_lock(self):
            return method(self, *args, **kwargs)

    return wrapper
