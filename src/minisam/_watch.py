"""Watching a training call: progress bar, callbacks, early stopping and a history.

:class:`Watch` is handed the progress of a sliced training loop (see :mod:`minisam._slicing`)
after every slice. It draws an optional tqdm bar, and at every *checkpoint* (every
``callback_every`` steps or epochs, and at the end) records the tracked quality measures and
calls the user's callback with a :class:`TrainingState`. Nothing is computed unless asked for:
without a callback and ``track`` a checkpoint costs a comparison.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minisam._validation import check_flag, check_positive_int

__all__ = ["TRACKABLE", "TrainingState", "Watch", "check_track"]

#: Measures ``track=`` accepts, by their short and long names -> history key.
TRACKABLE = {"qe": "quantization_error", "quantization_error": "quantization_error",
             "te": "topographic_error", "topographic_error": "topographic_error"}


@dataclass(frozen=True)
class TrainingState:
    """What a training callback sees after a checkpoint (read-only).

    Attributes
    ----------
    done : int
        Steps (online training) or epochs (batch training) done so far.
    total : int
        Steps or epochs the call was asked for.
    unit : str
        ``'step'`` or ``'epoch'``.
    sigma : float
        Neighbourhood radius of the last step or epoch done.
    learning_rate : float
        Learning rate of the last step or epoch done.
    weights : numpy.ndarray
        The weights reached, ``(x, y, input_len)``, as a read-only view of the working copy:
        valid during the callback (copy it to keep it).
    quantization_error, topographic_error : float or None
        The tracked measures on the training data at this checkpoint (None unless tracked).
    """

    done: int
    total: int
    unit: str
    sigma: float
    learning_rate: float
    weights: np.ndarray
    quantization_error: float | None = None
    topographic_error: float | None = None


def check_track(track) -> tuple[str, ...]:
    """``track`` (None, a name or a sequence of names from :data:`TRACKABLE`) as a tuple of
    history keys."""
    if track is None:
        return ()
    names = (track,) if isinstance(track, str) else track
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(f"track must be None, a string or a sequence of strings from "
                        f"{sorted(TRACKABLE)}, got {type(track).__name__}") from None
    keys = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"track must hold strings from {sorted(TRACKABLE)}, got "
                            f"{type(name).__name__} {name!r}")
        if name not in TRACKABLE:
            raise ValueError(f"track: unknown measure {name!r}; choose from "
                             f"{sorted(TRACKABLE)}")
        if TRACKABLE[name] not in keys:
            keys.append(TRACKABLE[name])
    return tuple(keys)


class Watch:
    """Progress, callbacks and history of one training call.

    Parameters
    ----------
    total : int
        Steps or epochs of the call.
    unit : {'step', 'epoch'}
    shape : tuple of int
        ``(x, y, input_len)``: the weights' shape for :attr:`TrainingState.weights`.
    progress : bool
        Draw a tqdm bar on stderr.
    callback : callable or None
        ``callback(state)``; returning ``False`` stops the training.
    every : int or None
        Checkpoint interval in ``unit``; None: ``default_every``.
    track : tuple of str
        History keys (from :func:`check_track`).
    measure : callable
        ``measure(flat_weights, key) -> float`` for a tracked key.
    description : str
        Label of the bar.
    """

    def __init__(self, *, total: int, unit: str, shape, progress, callback, every, track,
                 measure: Callable, default_every: int, description: str = "") -> None:
        self.total = total
        self.unit = unit
        self.shape = tuple(shape)
        self.progress = check_flag("progress", progress)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got "
                            f"{type(callback).__name__}")
        self.callback = callback
        self.every = (default_every if every is None
                      else check_positive_int("callback_every", every))
        self.track = check_track(track)
        self.measure = measure
        self.description = description
        self.history: dict[str, list] | None = (
            {unit: [], "sigma": [], "learning_rate": [], **{key: [] for key in self.track}}
            if self.track else None)
        self._bar = None
        self._shown = 0

    @property
    def checkpoints(self) -> bool:
        """Whether checkpoints do anything (a callback or tracked measures)."""
        return self.callback is not None or bool(self.track)

    @property
    def every_cut(self) -> int | None:
        """Where slices must end (at every checkpoint), or None when no checkpoint acts."""
        return self.every if self.checkpoints else None

    def __enter__(self) -> Watch:
        if self.progress:
            from tqdm import tqdm  # imported only when a bar is asked for

            self._bar = tqdm(total=self.total, unit=self.unit, desc=self.description,
                             file=sys.stderr, dynamic_ncols=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def done(self, done: int, flat: np.ndarray, sigma: float, learning_rate: float) -> bool:
        """Report ``done`` steps or epochs finished on the weights ``flat``; return whether to
        go on (False when the callback asked to stop)."""
        if self._bar is not None:
            self._bar.update(done - self._shown)
            self._shown = done
        if not self.checkpoints or (done % self.every and done != self.total):
            return True
        values = {key: float(self.measure(flat, key)) for key in self.track}
        if self.history is not None:
            self.history[self.unit].append(done)
            self.history["sigma"].append(float(sigma))
            self.history["learning_rate"].append(float(learning_rate))
            for key, value in values.items():
                self.history[key].append(value)
        if self.callback is None:
            return True
        view = flat.reshape(self.shape).view()
        view.flags.writeable = False
        state = TrainingState(done=done, total=self.total, unit=self.unit, sigma=float(sigma),
                              learning_rate=float(learning_rate), weights=view, **values)
        return self.callback(state) is not False

    def result(self) -> dict[str, np.ndarray] | None:
        """The history as a dict of 1-D arrays (None when nothing was tracked)."""
        if self.history is None:
            return None
        return {key: np.asarray(values) for key, values in self.history.items()}
