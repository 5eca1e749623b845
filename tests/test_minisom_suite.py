"""MiniSom 2.3.6's own unit tests (``minisom.TestMinisom``), run against ``minisam.MiniSom``.

The suite builds its maps through the module-level name ``minisom.MiniSom``; each test swaps in
the drop-in for its duration. Two tests are replaced: ``test_use_epochs_variables`` exercises
only a module-level helper of minisom on 10 million indices (slow, no MiniSom object), and
``test_distance_map`` expects MiniSom's hexagonal U-matrix for a map with an even number of
columns, which minisam deliberately corrects (see ``test_minisom_differences.py``).
"""

from __future__ import annotations

import os

import minisom
import numpy as np
from numpy.testing import assert_array_equal

import minisam


class TestMiniSomSuiteOnMinisam(minisom.TestMinisom):
    def setUp(self):
        original = minisom.MiniSom
        minisom.MiniSom = minisam.MiniSom
        self.addCleanup(setattr, minisom, "MiniSom", original)
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        import tempfile

        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        os.chdir(tmp.name)  # test_pickling writes som.p into the working directory
        super().setUp()
        assert isinstance(self.som, minisam.MiniSom)

    test_use_epochs_variables = None  # a helper of minisom's module, not of the class

    def test_distance_map(self):
        som = minisam.MiniSom(2, 2, 2, random_seed=1)
        som._weights = np.array([[[1., 0.], [0., 1.]], [[1., 0.], [0., 1.]]])
        assert_array_equal(som.distance_map(), np.array([[1., 1.], [1., 1.]]))

        # MiniSom expects [[.5, 1.], [1., .5]]: it pairs node (1, 0) with (0, 1), which are
        # sqrt(3) apart on its own hexagonal layout, instead of (0, 0) with (1, 1).
        som = minisam.MiniSom(2, 2, 2, topology='hexagonal', random_seed=1)
        som._weights = np.array([[[1., 0.], [0., 1.]], [[1., 0.], [0., 1.]]])
        assert_array_equal(som.distance_map(), np.array([[1., .5], [.5, 1.]]))

        som = minisam.MiniSom(3, 3, 1, random_seed=1)
        som._weights = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
        dist = np.array([[2 / 3, 3 / 5, 2 / 3], [3 / 5, 4 / 8, 3 / 5], [2 / 3, 3 / 5, 2 / 3]])
        assert_array_equal(som.distance_map(scaling='mean'), dist / np.max(dist))

        with self.assertRaises(ValueError):
            som.distance_map(scaling='puppies')
