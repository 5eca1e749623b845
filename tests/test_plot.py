"""minisam.plot: pictures rendered with the Agg backend and checked pixel by pixel.

Expected values (U-matrix, hits, majority labels, node quality) are computed here from their
definitions by brute force, and the expected colour of a cell is the colour map at the value
normalised over the values' range (minimum to maximum).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import matplotlib  # CI installs the test extra: a missing Matplotlib fails there
else:
    matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402

from minisam import MiniSam, MiniSom  # noqa: E402
from minisam import plot as mplot  # noqa: E402

R = 1.0 / math.sqrt(3.0)  # circumradius of a hexagon of inradius 1/2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rendered(ax):
    """Draw the figure of ``ax``; return a function giving the RGB (0-255) pixel at the
    data point ``(h, v)`` of ``ax``."""
    figure = ax.figure
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())
    height = image.shape[0]

    def pixel(h, v):
        dx, dy = ax.transData.transform((h, v))
        return image[int(height - dy), int(dx), :3].astype(int)

    return pixel


def colour(cmap, value, low, high):
    """The 0-255 RGB a colour map gives ``value`` on the range ``[low, high]``."""
    fraction = 0.0 if high == low else (value - low) / (high - low)
    return np.rint(np.asarray(matplotlib.colormaps[cmap](fraction)[:3]) * 255).astype(int)


def assert_colour(actual, expected, where=""):
    assert np.abs(actual - expected).max() <= 2, f"{where}: {actual} != {expected}"


def minisam_with(weights, **kwargs):
    weights = np.asarray(weights, dtype=np.float64)
    som = MiniSam(weights.shape[0], weights.shape[1], weights.shape[2], random_seed=0, **kwargs)
    som._weights = weights.copy()
    return som


def brute_umatrix(positions, weights):
    """Mean distance of each node's weights to the nodes at grid distance 1 (the hexagonal
    neighbours) or at most sqrt(2) (rectangular, diagonals included) on a planar map."""
    x, y = weights.shape[:2]
    p = positions.reshape(-1, 2)
    w = weights.reshape(x * y, -1)
    grid = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    out = np.zeros(x * y)
    for k in range(x * y):
        near = (grid[k] > 1e-9) & (grid[k] < math.sqrt(2) + 1e-9)
        out[k] = np.mean(np.linalg.norm(w[near] - w[k], axis=1))
    return out.reshape(x, y)


def test_rectangular_umatrix_colours_at_cell_centres():
    rng = np.random.default_rng(3)
    weights = rng.random((4, 5, 2))
    som = minisam_with(weights)
    expected = brute_umatrix(som.node_positions(), weights)
    _, ax = plt.subplots(figsize=(6, 5), dpi=100)
    assert mplot.umatrix(som, ax=ax) is ax
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert (mesh.norm.vmin, mesh.norm.vmax) == (expected.min(), expected.max())
    pixel = rendered(ax)
    for i in range(4):
        for j in range(5):
            assert_colour(pixel(j, i), colour("viridis", expected[i, j], expected.min(),
                                              expected.max()), f"cell {(i, j)}")
    assert len(ax.figure.axes) == 2  # the map and its colour bar
    assert "toroidal" not in ax.get_title()


@pytest.mark.parametrize("shape", [(3, 4), (4, 5), (5, 3)])
def test_hexagonal_cells_are_regular_hexagons_at_the_nodes(shape):
    x, y = shape
    rng = np.random.default_rng(x * 10 + y)
    weights = rng.random((x, y, 3))
    som = minisam_with(weights, topology="hexagonal")
    positions = som.node_positions().reshape(-1, 2)
    expected = brute_umatrix(som.node_positions(), weights)
    _, ax = plt.subplots(figsize=(7, 6), dpi=100)
    mplot.umatrix(som, ax=ax)
    (cells,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    paths = cells.get_paths()
    assert len(paths) == x * y  # one artist, one hexagon per node (no re-binning)
    for k, path in enumerate(paths):
        corners = path.vertices[:6]
        centre = positions[k, ::-1]  # (column axis, row axis)
        assert_allclose(np.linalg.norm(corners - centre, axis=1), R, rtol=1e-12)
        sides = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
        assert_allclose(sides, R, rtol=1e-12)  # regular: six equal sides
    assert_allclose(cells.get_array(), expected.ravel())

    pixel = rendered(ax)
    low, high = expected.min(), expected.max()
    for k in range(x * y):
        i, j = divmod(k, y)
        h, v = positions[k, 1], positions[k, 0]
        want = colour("viridis", expected[i, j], low, high)
        assert_colour(pixel(h, v), want, f"centre of {(i, j)}")
        # Towards the top and bottom corners, beyond where a square or rectangular cell of
        # the row spacing (sqrt(3)/2) would end, the pixel is still this node's.
        assert_colour(pixel(h, v - 0.88 * R), want, f"upper corner of {(i, j)}")
        assert_colour(pixel(h, v + 0.88 * R), want, f"lower corner of {(i, j)}")
        # Just past the right-hand side (inradius 1/2): the right neighbour's colour.
        if j + 1 < y:
            assert_colour(pixel(h + 0.6, v), colour("viridis", expected[i, j + 1], low, high),
                          f"right of {(i, j)}")
    # Beside a pointy top, between two hexagons of row 0, lies the background.
    corner_gap = pixel(positions[0, 1] + 0.5, positions[0, 0] - 0.9 * R)
    assert_colour(corner_gap, np.array([255, 255, 255]), "gap above row 0")


@pytest.mark.parametrize("shape", [(4, 3), (5, 4)])
def test_minisom_hexagonal_layout_is_flat_topped(shape):
    x, y = shape
    som = MiniSom(x, y, 2, sigma=1.0, topology="hexagonal", random_seed=1)
    data = np.random.default_rng(0).random((60, 2))
    som.train(data, 200)
    xx, yy = som.get_euclidean_coordinates()
    expected = brute_umatrix(np.stack([xx, yy], axis=-1), som.get_weights())
    _, ax = plt.subplots(figsize=(7, 6), dpi=100)
    mplot.umatrix(som, ax=ax)
    (cells,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    corners = cells.get_paths()[0].vertices[:6] - np.array([yy[0, 0], xx[0, 0]])
    # flat top: two corners on the horizontal through the centre
    assert_allclose(np.sort(np.abs(corners[np.abs(corners[:, 1]) < 1e-12, 0])), [R, R])
    assert_allclose(cells.get_array(), expected.ravel())
    pixel = rendered(ax)
    low, high = expected.min(), expected.max()
    for i in range(x):
        for j in range(y):
            want = colour("viridis", expected[i, j], low, high)
            assert_colour(pixel(yy[i, j], xx[i, j]), want, f"centre of {(i, j)}")
            assert_colour(pixel(yy[i, j] + 0.88 * R, xx[i, j]), want, f"corner of {(i, j)}")


def test_toroidal_maps_say_so():
    som = MiniSam(4, 6, 2, random_seed=0, topology="hexagonal", toroidal=True)
    ax = mplot.umatrix(som)
    assert "toroidal" in ax.get_title() and "hexagonal" in ax.get_title()
    ax = mplot.umatrix(MiniSam(3, 3, 2, random_seed=0, toroidal=True))
    assert "toroidal" in ax.get_title()
    assert_allclose(ax.collections[0].get_array().ravel(),
                    MiniSam(3, 3, 2, random_seed=0, toroidal=True).distance_map().ravel())


def test_hits_draw_empty_nodes_in_the_colour_of_zero():
    weights = np.zeros((2, 3, 1))
    weights[:, :, 0] = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    som = minisam_with(weights)
    data = np.array([[0.1], [0.2], [0.05], [2.1], [4.9], [5.2]])  # nodes 1, 3, 4 win nothing
    _, ax = plt.subplots(figsize=(6, 4), dpi=100)
    mplot.hits(som, data, ax=ax)
    counts = np.array([[3, 0, 1], [0, 0, 2]])
    assert_array_equal(ax.collections[0].get_array().reshape(2, 3), counts)
    pixel = rendered(ax)
    for i in range(2):
        for j in range(3):
            assert_colour(pixel(j, i), colour("viridis", counts[i, j], 0, 3), f"{(i, j)}")


def test_component_planes_one_panel_per_feature_with_names():
    rng = np.random.default_rng(5)
    weights = rng.random((3, 4, 3))
    weights[:, :, 1] = 7.0 + weights[:, :, 1]  # far from [0, 1]: the range, not the max
    som = minisam_with(weights)
    panels = mplot.component_planes(som, feature_names=["red", "green", "blue"])
    assert len(panels) == 3
    assert [p.get_title().splitlines()[0] for p in panels] == ["red", "green", "blue"]
    pixel = rendered(panels[1])
    plane = weights[:, :, 1]
    for i in range(3):
        for j in range(4):
            assert_colour(pixel(j, i), colour("coolwarm", plane[i, j], plane.min(),
                                              plane.max()), f"{(i, j)}")
    panels = mplot.component_planes(som, features=[2])
    assert [p.get_title().splitlines()[0] for p in panels] == ["feature 2"]
    with pytest.raises(ValueError, match="features"):
        mplot.component_planes(som, features=[3])


def test_labels_majority_per_node_and_pies():
    weights = np.zeros((1, 3, 1))
    weights[0, :, 0] = [0.0, 1.0, 2.0]
    som = minisam_with(weights)
    data = np.array([[0.0], [0.1], [-0.1], [1.0], [1.1], [0.9]])  # node 2 wins nothing
    names = np.array(["cat", "dog", "cat", "dog", "dog", "cat"])
    _, ax = plt.subplots(figsize=(6, 3), dpi=100)
    mplot.labels(som, data, names, ax=ax)
    majority = ax.collections[0].get_array()
    assert_array_equal(majority.filled(-1).ravel(), [0, 1, -1])  # cat, dog, empty
    pixel = rendered(ax)
    assert_colour(pixel(2, 0), np.rint(np.array(matplotlib.colors.to_rgb("lightgrey")) * 255),
                  "empty node")
    colourbar = ax.figure.axes[1]
    assert [t.get_text() for t in colourbar.get_yticklabels()] == ["cat", "dog"]

    ax = mplot.labels(som, data, names, pies=True)
    wedges = ax.collections[-1]
    assert_array_equal(wedges.get_array(), [0, 1, 0, 1])  # node 0: cat 2, dog 1; node 1 ...
    # each wedge's area is its share of the node's samples times the disc's
    areas = np.array([_polygon_area(path.to_polygons()[0]) for path in wedges.get_paths()])
    assert_allclose(areas / (math.pi * 0.45 ** 2), [2 / 3, 1 / 3, 1 / 3, 2 / 3], rtol=0.01)
    with pytest.raises(ValueError, match="labels"):
        mplot.labels(som, data, names[:3])


def _polygon_area(points):
    h, v = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(h, np.roll(v, -1)) - np.dot(v, np.roll(h, -1)))


def test_quality_map_mean_bmu_distance_per_node():
    rng = np.random.default_rng(9)
    data = rng.random((80, 2))
    som = MiniSam(3, 3, 2, random_seed=2)
    som.train_batch(data, 5)
    flat = som.get_weights().reshape(9, 2)
    d = np.sqrt(((data[:, None, :] - flat[None]) ** 2).sum(-1))
    index, distance = d.argmin(1), d.min(1)
    expected = np.full(9, np.nan)
    for k in range(9):
        if (index == k).any():
            expected[k] = distance[index == k].mean()
    _, ax = plt.subplots(figsize=(5, 5), dpi=100)
    mplot.quality(som, data, ax=ax)
    values = ax.collections[0].get_array()
    assert_allclose(values.filled(np.nan).ravel(), expected, equal_nan=True)
    pixel = rendered(ax)
    finite = expected[np.isfinite(expected)]
    for k in np.flatnonzero(np.isfinite(expected)):
        i, j = divmod(k, 3)
        assert_colour(pixel(j, i), colour("magma_r", expected[k], finite.min(), finite.max()))


def test_training_curve_draws_the_tracked_history():
    data = np.random.default_rng(1).random((50, 2))
    som = MiniSam(4, 4, 2, random_seed=0)
    with pytest.raises(ValueError, match="track"):
        mplot.training_curve(som)
    som.train_batch(data, 6, track=("qe", "te"))
    ax = mplot.training_curve(som)
    (qe,) = ax.get_lines()
    assert_array_equal(qe.get_xdata(), som.history["epoch"])
    assert_array_equal(qe.get_ydata(), som.history["quantization_error"])
    (te,) = [a for a in ax.figure.axes if a is not ax][0].get_lines()
    assert_array_equal(te.get_ydata(), som.history["topographic_error"])


def test_bad_arguments():
    som = MiniSam(2, 2, 3, random_seed=0)
    with pytest.raises(TypeError, match="MiniSam"):
        mplot.umatrix(object())
    with pytest.raises(ValueError):
        mplot.hits(som, np.zeros((4, 2)))


def test_fitted_estimator_with_named_columns():
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        import pandas as pd
        import sklearn  # noqa: F401
    else:
        pd = pytest.importorskip("pandas")
        pytest.importorskip("sklearn")
    from minisam.sklearn import SelfOrganizingMap
    from minisam.topology import Topology

    rng = np.random.default_rng(8)
    frame = pd.DataFrame(rng.random((150, 3)), columns=["height", "width", "depth"])
    estimator = SelfOrganizingMap(4, 6, topology="hexagonal", toroidal=True, n_epochs=5,
                                  random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        mplot.umatrix(estimator)
    estimator.fit(frame)
    panels = mplot.component_planes(estimator)
    assert [p.get_title().splitlines()[0] for p in panels] == ["height", "width", "depth"]
    assert all("toroidal" in p.get_title() for p in panels)
    ax = mplot.umatrix(estimator)
    expected = Topology(4, 6, "hexagonal", True).mean_neighbour_distance(estimator.weights_)
    assert_allclose(ax.collections[0].get_array(), expected.ravel())
    ax = mplot.hits(estimator, frame)
    counts = np.bincount(estimator.predict(frame), minlength=24)
    assert_array_equal(ax.collections[0].get_array(), counts)
