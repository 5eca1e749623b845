"""Pictures of a trained map (Matplotlib; ``pip install "minisam[plot]"``).

Every function takes a trained :class:`~minisam.MiniSam`, a :class:`~minisam.MiniSom` drop-in
or a fitted :class:`minisam.sklearn.SelfOrganizingMap` (anything with the weights and the map's
:class:`~minisam.topology.Topology`), draws into ``ax`` (a new figure when None) and returns the
Axes:

* :func:`umatrix`: mean distance of each node's weights to its neighbours' (cluster borders);
* :func:`hits`: how many samples each node wins;
* :func:`component_planes`: one panel per feature, that feature's weight at every node;
* :func:`labels`: the majority label of the samples each node wins, or a pie per node;
* :func:`quality`: mean distance of each node's samples to its weights (the local
  quantization error);
* :func:`training_curve`: the quantization and topographic errors recorded while training
  (``track=``, see :attr:`minisam.MiniSam.history`).

Maps are drawn as they are stored: row ``i`` of the map is row ``i`` of the picture, top to
bottom, and column ``j`` runs left to right (the demo's colour-map PNG has the same
orientation). A rectangular map is one ``pcolormesh``; a hexagonal map is one
``PolyCollection`` of regular hexagons in data units, centred on the nodes' positions
(:meth:`~minisam.topology.Topology.positions`), so neighbouring cells share edges at any figure
size or DPI. The title names the lattice and says when the map is toroidal (its opposite edges
are joined, so cells at the borders are neighbours). Colours span the values' range (minimum
to maximum) and every map has a colour bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection, PolyCollection
from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, Normalize
from matplotlib.patches import Wedge
from matplotlib.ticker import MaxNLocator

from minisam import reference
from minisam.topology import Topology

__all__ = ["component_planes", "hits", "labels", "quality", "training_curve", "umatrix"]

#: Colour of the nodes a measure is undefined at (no sample won them).
EMPTY_COLOUR = "lightgrey"
#: Circumradius of the hexagonal cells: the neighbours are 1 apart, so the hexagons' inradius
#: is 1/2 and they tile the plane.
HEX_RADIUS = 1.0 / math.sqrt(3.0)


# ---------------------------------------------------------------------- the model's map
@dataclass(frozen=True)
class MapView:
    """What the plots need from a model: its weights, topology and feature names."""

    weights: np.ndarray          # (x, y, n_features) float64
    topology: Topology
    feature_names: tuple[str, ...] | None
    model: object

    @property
    def shape(self) -> tuple[int, int]:
        return self.topology.shape

    def winners(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Each sample's best-matching unit: ``(flat index, Euclidean distance)``."""
        scorer = getattr(self.model, "bmus", None)
        if callable(scorer):
            result = scorer(data)
            return (np.asarray(result.index, dtype=np.int64),
                    np.asarray(result.distance, dtype=np.float64))
        array = _as_samples(data, self.weights.shape[2])
        index, d2 = reference.bmu_many(self.weights.reshape(-1, self.weights.shape[2]), array)
        return index, np.sqrt(np.maximum(d2, 0.0))


def _as_samples(data, n_features: int) -> np.ndarray:
    array = np.asarray(data, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n_features:
        raise ValueError(f"data must have shape (n_samples, {n_features}), got {array.shape}")
    return array


_TOPOLOGY_ATTRIBUTES = ("grid", "_grid", "_topology", "grid_", "topology_")


def map_view(model) -> MapView:
    """The :class:`MapView` of a ``MiniSam``, a ``MiniSom`` or a fitted estimator.

    Raises ``TypeError`` for anything else, and ``ValueError`` for an unfitted estimator.
    """
    if hasattr(model, "weights_"):
        weights = model.weights_
    elif hasattr(model, "get_weights"):
        weights = model.get_weights()
    elif hasattr(model, "fit") and hasattr(model, "get_params"):
        raise ValueError(f"this {type(model).__name__} is not fitted yet: call fit first")
    else:
        raise TypeError(f"model must be a MiniSam, a MiniSom or a fitted SelfOrganizingMap, "
                        f"got {type(model).__name__}")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3:
        raise ValueError(f"the model's weights must have shape (x, y, n_features), got "
                         f"{weights.shape}")
    topology = None
    for name in _TOPOLOGY_ATTRIBUTES:
        candidate = getattr(model, name, None)
        if isinstance(candidate, Topology):
            topology = candidate
            break
    if topology is None:  # e.g. an estimator that keeps only its hyper-parameters
        lattice = getattr(model, "topology", "rectangular")
        topology = Topology(weights.shape[0], weights.shape[1],
                            lattice if isinstance(lattice, str) else "rectangular",
                            bool(getattr(model, "toroidal", False)))
    if topology.shape != weights.shape[:2]:
        raise ValueError(f"the model's topology is {topology.shape} but its weights are "
                         f"{weights.shape[:2]}")
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else tuple(str(name) for name in names)
    return MapView(weights, topology, names, model)


# ---------------------------------------------------------------------- drawing
def hexagon_offsets(topology: Topology) -> np.ndarray:
    """The ``(6, 2)`` vertices of a hexagonal cell relative to its node, in plot coordinates
    ``(column axis, row axis)``.

    ``'minisam'`` layout: rows are the lines of nodes (neighbours along a row are 1 apart
    horizontally), so the hexagons stand on a vertex (pointy top). ``'minisom'`` layout:
    columns are the lines, so the hexagons lie on an edge (flat top).
    """
    start = 90.0 if topology.layout == "minisam" else 0.0
    angles = np.radians(start + 60.0 * np.arange(6))
    return HEX_RADIUS * np.column_stack([np.cos(angles), np.sin(angles)])


def cell_centres(topology: Topology) -> np.ndarray:
    """Each node's centre in plot coordinates ``(horizontal, vertical)``, ``(n_nodes, 2)``:
    the column axis horizontal, the row axis vertical (drawn downwards)."""
    return topology.coords[:, ::-1].copy()


def _colormap(cmap, bad=EMPTY_COLOUR) -> Colormap:
    base = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    if not isinstance(base, Colormap):
        raise TypeError(f"cmap must be a colormap name or a matplotlib Colormap, got {cmap!r}")
    return base.with_extremes(bad=bad)


def _range_norm(values: np.ndarray, vmin=None, vmax=None) -> Normalize:
    """Colours from the minimum to the maximum of the finite values (not from 0 to the max)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low = float(finite.min()) if vmin is None and finite.size else vmin
    high = float(finite.max()) if vmax is None and finite.size else vmax
    return Normalize(vmin=low, vmax=high)


def _new_axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _title(view: MapView, what: str) -> str:
    x, y = view.shape
    shape = f"{x}\u00d7{y} {view.topology.lattice}"
    if view.topology.toroidal:
        shape += ", toroidal"
    return f"{what}\n{shape}"


def _index_ticks(ax, topology: Topology, most: int = 10) -> None:
    """Ticks at the rows' and columns' positions, labelled with their indices ``i`` and
    ``j`` (on a hexagonal map rows are sqrt(3)/2 apart, or columns are), at most ``most``
    per axis."""
    positions = topology.positions()
    # A line of the lattice that is not shifted: row 0 ('minisam' shifts odd rows), and for
    # the 'minisom' layout (it shifts the last column and every second one before it) the
    # column before the last.
    plain_column = topology.y - 2 if topology.layout == "minisom" and topology.y > 1 else 0
    for axis, centres in ((ax.yaxis, positions[:, plain_column, 0]),
                          (ax.xaxis, positions[0, :, 1])):
        step = max(1, math.ceil(centres.size / most))
        chosen = np.arange(0, centres.size, step)
        axis.set_ticks(centres[chosen], [str(k) for k in chosen])


def draw_map(ax, view: MapView, values, *, cmap="viridis", norm=None, colorbar_label=None,
             title=None, colorbar=True):
    """Draw one value per node (``(x, y)``; NaN or masked: drawn in :data:`EMPTY_COLOUR`) on
    ``ax`` and return the artist (a ``QuadMesh`` or a ``PolyCollection``)."""
    topology = view.topology
    values = np.ma.masked_invalid(np.asarray(values, dtype=np.float64).reshape(topology.shape))
    norm = _range_norm(values.filled(np.nan)) if norm is None else norm
    cmap = _colormap(cmap)
    if topology.lattice == "rectangular":
        artist = ax.pcolormesh(np.arange(topology.y + 1) - 0.5, np.arange(topology.x + 1) - 0.5,
                               values, cmap=cmap, norm=norm, shading="flat")
        ax.set_xlim(-0.5, topology.y - 0.5)
        ax.set_ylim(topology.x - 0.5, -0.5)
    else:
        corners = cell_centres(topology)[:, None, :] + hexagon_offsets(topology)[None, :, :]
        artist = PolyCollection(list(corners), array=values.ravel(), cmap=cmap, norm=norm,
                                edgecolors="face", linewidths=0.5)
        ax.add_collection(artist)
        low, high = corners.reshape(-1, 2).min(axis=0), corners.reshape(-1, 2).max(axis=0)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(high[1], low[1])
    ax.set_aspect("equal")
    _index_ticks(ax, topology)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    if title is not None:
        ax.set_title(_title(view, title))
    if colorbar:
        ax.figure.colorbar(artist, ax=ax, label=colorbar_label)
    return artist


# ---------------------------------------------------------------------- the pictures
def umatrix(model, *, ax=None, cmap="viridis"):
    """Draw the U-matrix: each node's mean Euclidean distance to its neighbours' weights (8
    neighbours on a rectangular map, 6 on a hexagonal one, across the seams on a torus).
    Light bands (high values) are borders between clusters. Returns the Axes."""
    view = map_view(model)
    values = view.topology.mean_neighbour_distance(view.weights)
    ax = _new_axes(ax)
    draw_map(ax, view, values, cmap=cmap, title="U-matrix",
             colorbar_label="mean distance to neighbours")
    return ax


def hit_counts(view: MapView, data) -> np.ndarray:
    """How many samples of ``data`` each node wins, ``(x, y)`` int64."""
    index, _ = view.winners(data)
    return np.bincount(index, minlength=view.topology.n_nodes).reshape(view.shape)


def hits(model, data, *, ax=None, cmap="viridis"):
    """Draw how many samples of ``data`` each node wins (colours from 0 to the most hits;
    nodes that win nothing are drawn in the colour of 0). Returns the Axes."""
    view = map_view(model)
    counts = hit_counts(view, data)
    ax = _new_axes(ax)
    artist = draw_map(ax, view, counts, cmap=cmap, norm=Normalize(0, max(1, int(counts.max()))),
                      title="hits", colorbar_label="samples won")
    artist.colorbar.locator = MaxNLocator(integer=True)
    artist.colorbar.update_ticks()
    return ax


def component_planes(model, *, features=None, feature_names=None, ax=None, ncols=None,
                     cmap="coolwarm"):
    """Draw one panel per feature: that feature's weight at every node, each with its own
    colour bar (from the feature's minimum to its maximum over the map).

    Parameters
    ----------
    features : sequence of int, optional
        Which features (default: all).
    feature_names : sequence of str, optional
        Panel titles, one per feature of the model; default: the estimator's
        ``feature_names_in_`` when it was fitted on named columns, else ``feature k``.
    ax : sequence of Axes, optional
        One Axes per drawn feature; default: a new figure with ``ncols`` panels a row.

    Returns
    -------
    numpy.ndarray of Axes
        The panels, one per drawn feature.
    """
    view = map_view(model)
    n_features = view.weights.shape[2]
    chosen = list(range(n_features)) if features is None else [int(k) for k in features]
    if not chosen or any(not 0 <= k < n_features for k in chosen):
        raise ValueError(f"features must be indices in [0, {n_features}), got {features!r}")
    names = feature_names if feature_names is not None else view.feature_names
    if names is not None and len(names) != n_features:
        raise ValueError(f"feature_names must name the {n_features} features, got "
                         f"{len(names)}")
    if ax is None:
        ncols = min(len(chosen), 4) if ncols is None else int(ncols)
        nrows = math.ceil(len(chosen) / ncols)
        figure, grid = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.4 * nrows),
                                    squeeze=False)
        for spare in grid.ravel()[len(chosen):]:
            figure.delaxes(spare)
        panels = grid.ravel()[:len(chosen)]
    else:
        panels = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if panels.size != len(chosen):
            raise ValueError(f"ax must hold one Axes per feature drawn ({len(chosen)}), got "
                             f"{panels.size}")
    for panel, k in zip(panels, chosen, strict=True):
        name = str(names[k]) if names is not None else f"feature {k}"
        draw_map(panel, view, view.weights[:, :, k], cmap=cmap, title=name,
                 colorbar_label="weight")
    return panels


def _label_codes(labels_, n_samples):
    labels_ = np.asarray(labels_)
    if labels_.ndim != 1 or labels_.shape[0] != n_samples:
        raise ValueError(f"labels must be one label per sample ({n_samples}), got shape "
                         f"{labels_.shape}")
    categories, codes = np.unique(labels_, return_inverse=True)
    return categories, codes.ravel()


def label_counts(view: MapView, data, labels_):
    """``(categories, counts)``: the sorted distinct labels and, per node, how many samples of
    each label it wins (``(n_nodes, n_categories)``)."""
    index, _ = view.winners(data)
    categories, codes = _label_codes(labels_, index.shape[0])
    counts = np.zeros((view.topology.n_nodes, categories.size), dtype=np.int64)
    np.add.at(counts, (index, codes), 1)
    return categories, counts


def labels(model, data, labels, *, pies=False, ax=None, cmap="tab10"):
    """Draw the labels of the samples each node wins.

    ``pies=False``: each node in the colour of its majority label (ties: the label that
    sorts first); nodes that win no sample in light grey. ``pies=True``: a pie per node with
    one slice per label, sized by its share of the node's samples. The colour bar names the
    labels. Returns the Axes.
    """
    view = map_view(model)
    categories, counts = label_counts(view, data, labels)
    n = categories.size
    colours = _category_colours(cmap, n)
    norm = BoundaryNorm(np.arange(n + 1) - 0.5, n)
    ax = _new_axes(ax)
    won = counts.sum(axis=1)
    if not pies:
        majority = np.where(won > 0, np.argmax(counts, axis=1), np.nan)
        artist = draw_map(ax, view, majority, cmap=colours, norm=norm,
                          title="majority label", colorbar=False)
    else:
        artist = _draw_pies(ax, view, counts, colours, norm)
    bar = ax.figure.colorbar(artist, ax=ax, ticks=np.arange(n), label="label")
    bar.ax.set_yticklabels([str(c) for c in categories])
    return ax


def _category_colours(cmap, n: int) -> ListedColormap:
    """``n`` distinct colours: a qualitative map's own colours in turn (``tab10``), or ``n``
    evenly spaced ones of a continuous map."""
    base = _colormap(cmap)
    if base.N < 256:
        return ListedColormap(base(np.arange(n) % base.N))
    return ListedColormap(base(np.linspace(0.0, 1.0, max(n, 2))[:n]))


def _draw_pies(ax, view: MapView, counts, colours, norm):
    """A pie per node that wins samples (one Wedge per label present), one PatchCollection;
    the cells' outlines underneath in light grey."""
    draw_map(ax, view, np.full(view.shape, np.nan), title="labels per node", colorbar=False)
    radius = 0.45  # inside a unit square and inside a hexagon of inradius 1/2
    wedges, codes = [], []
    for node, centre in enumerate(cell_centres(view.topology)):
        total = counts[node].sum()
        if total == 0:
            continue
        start = 90.0
        for code in np.flatnonzero(counts[node]):
            sweep = 360.0 * counts[node, code] / total
            wedges.append(Wedge(tuple(centre), radius, start, start + sweep))
            codes.append(code)
            start += sweep
    artist = PatchCollection(wedges, cmap=colours, norm=norm, edgecolors="white",
                             linewidths=0.3)
    artist.set_array(np.asarray(codes, dtype=np.float64))
    ax.add_collection(artist)
    return artist


def node_quality(view: MapView, data) -> np.ndarray:
    """Mean Euclidean distance between each node and the samples it wins, ``(x, y)``; NaN at
    nodes that win nothing."""
    index, distance = view.winners(data)
    n_nodes = view.topology.n_nodes
    won = np.bincount(index, minlength=n_nodes)
    total = np.bincount(index, weights=distance, minlength=n_nodes)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(won > 0, total / np.maximum(won, 1), np.nan)
    return mean.reshape(view.shape)


def quality(model, data, *, ax=None, cmap="magma_r"):
    """Draw the quality map: the mean distance between each node's weights and the samples
    of ``data`` it wins (the local quantization error; its mean weighted by the hits is the
    map's quantization error). Nodes that win nothing are drawn in light grey. Returns the
    Axes."""
    view = map_view(model)
    ax = _new_axes(ax)
    draw_map(ax, view, node_quality(view, data), cmap=cmap, title="quality (mean BMU distance)",
             colorbar_label="mean distance to its samples")
    return ax


_CURVES = (("quantization_error", "quantization error"),
           ("topographic_error", "topographic error"))


def training_curve(model, *, ax=None):
    """Draw the quality measures recorded while training, against the steps (online) or
    epochs (batch) done: the quantization error on the left axis and the topographic error
    on a right-hand one.

    ``model``: a model whose last training call tracked measures (``track='qe'``, ``'te'``
    or both; its :attr:`~minisam.MiniSam.history`), or such a history dict. Raises
    ``ValueError`` when nothing was tracked. Returns the (left) Axes.
    """
    history = model if isinstance(model, dict) else getattr(
        model, "history_", getattr(model, "history", None))
    if not isinstance(history, dict):
        raise ValueError("no training history: train with track='qe' and/or 'te' (e.g. "
                         "som.train_batch(data, 20, track=('qe', 'te'))) before plotting "
                         "the training curve")
    unit = "epoch" if "epoch" in history else "step"
    present = [(key, name) for key, name in _CURVES if key in history]
    if unit not in history or not present:
        raise ValueError("the training history has no tracked measure: train with "
                         "track='qe' and/or 'te'")
    done = np.asarray(history[unit])
    ax = _new_axes(ax)
    axes = [ax] + ([ax.twinx()] if len(present) == 2 else [])
    colours = ("tab:blue", "tab:orange")
    lines = []
    for target, (key, name), colour in zip(axes, present, colours, strict=False):
        lines += target.plot(done, np.asarray(history[key]), color=colour, marker=".",
                             label=name)
        target.set_ylabel(name, color=colour)
    ax.set_xlabel(f"{unit}s done")
    ax.set_title("training curve")
    ax.legend(lines, [line.get_label() for line in lines], loc="upper right")
    return ax
