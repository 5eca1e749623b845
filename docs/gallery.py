"""Draw the README's example pictures of minisam.plot (small PNGs in docs/images).

    pip install ".[plot]" && python docs/gallery.py docs/images

Data: four labelled Gaussian clusters in 4-D (300 samples each). Maps: a 12 x 16 hexagonal
torus (batch, 30 epochs, quality tracked) and a 12 x 16 rectangular map for the component
planes.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minisam import MiniSam, plot  # noqa: E402


def main(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = rng.random((4, 4)) * 4
    labels = np.repeat(np.array(["north", "south", "east", "west"]), 300)
    data = np.repeat(centres, 300, axis=0) + rng.normal(0, 0.35, (1200, 4))
    hexagonal = MiniSam(12, 16, 4, sigma=4, random_seed=1, topology="hexagonal",
                        toroidal=True)
    hexagonal.train_batch(data, 30, track=("qe", "te"))
    rectangular = MiniSam(12, 16, 4, sigma=4, random_seed=1)
    rectangular.train_batch(data, 30)

    pictures = {
        "umatrix_hexagonal.png": lambda ax: plot.umatrix(hexagonal, ax=ax),
        "hits_hexagonal.png": lambda ax: plot.hits(hexagonal, data, ax=ax),
        "labels_hexagonal.png": lambda ax: plot.labels(hexagonal, data, labels, ax=ax),
        "pies_hexagonal.png": lambda ax: plot.labels(hexagonal, data, labels, pies=True,
                                                     ax=ax),
        "quality_hexagonal.png": lambda ax: plot.quality(hexagonal, data, ax=ax),
        "training_curve.png": lambda ax: plot.training_curve(hexagonal, ax=ax),
    }
    for name, draw in pictures.items():
        figure, ax = plt.subplots(figsize=(5, 3.6))
        draw(ax)
        figure.tight_layout()
        figure.savefig(os.path.join(folder, name), dpi=60)
        plt.close(figure)
    panels = plot.component_planes(rectangular, feature_names=["w", "x", "y", "z"], ncols=4)
    panels[0].figure.set_size_inches(13, 2.6)
    panels[0].figure.tight_layout()
    panels[0].figure.savefig(os.path.join(folder, "component_planes.png"), dpi=60)
    plt.close("all")
    print(f"wrote {len(pictures) + 1} pictures to {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
