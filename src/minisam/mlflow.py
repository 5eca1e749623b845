"""minisam as an MLflow model flavor (``pip install "minisam[mlflow]"``).

::

    import minisam.mlflow
    with mlflow.start_run():
        info = minisam.mlflow.log_model(som, name="som", registered_model_name="colours")
    som = minisam.mlflow.load_model("models:/colours/1")          # a MiniSam again
    scorer = mlflow.pyfunc.load_model("models:/colours/1")        # the generic interface
    scorer.predict(data)  # DataFrame: row, col, index, distance per sample

A saved model is a folder with the ``MLmodel`` file (flavors ``minisam`` and
``python_function``), the model as ``MiniSam.save`` writes it (``model.npz``, no pickle),
``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``. Its signature: the input is a
``(n_samples, input_len)`` float64 tensor (a DataFrame of that many numeric columns works
too), the output the per-sample best-matching-unit table: ``row`` and ``col`` (grid
coordinates), ``index`` (flat node index) as long integers and ``distance`` (Euclidean
distance to the unit's weights) as double.
"""

from __future__ import annotations

import inspect
import os
import sys

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from minisam._version import __version__
from minisam.som import MiniSam

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "model_signature", "save_model"]

FLAVOR_NAME = "minisam"
MODEL_FILE = "model.npz"
#: Columns of the table ``predict`` returns.
OUTPUT_COLUMNS = (("row", "long"), ("col", "long"), ("index", "long"), ("distance", "double"))


def model_signature(som: MiniSam) -> ModelSignature:
    """The signature of ``som``'s pyfunc: an ``(n, input_len)`` float64 tensor in, the BMU
    table out."""
    inputs = Schema([TensorSpec(np.dtype(np.float64), (-1, som.input_len))])
    outputs = Schema([ColSpec(kind, name) for name, kind in OUTPUT_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def default_pip_requirements() -> list[str]:
    """What a serving environment installs: this minisam, and MLflow for the flavor."""
    return [f"minisam=={__version__}", f"mlflow=={mlflow.__version__}"]


def _write_environment(path, pip_requirements) -> None:
    python = ".".join(map(str, sys.version_info[:3]))
    with open(os.path.join(path, "requirements.txt"), "w", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in pip_requirements))
    with open(os.path.join(path, "python_env.yaml"), "w", encoding="utf-8") as handle:
        handle.write(f"python: {python}\nbuild_dependencies:\n  - pip\n"
                     f"dependencies:\n  - -r requirements.txt\n")
    pip = "".join(f"      - {line}\n" for line in pip_requirements)
    with open(os.path.join(path, "conda.yaml"), "w", encoding="utf-8") as handle:
        handle.write(f"name: minisam_env\nchannels:\n  - conda-forge\ndependencies:\n"
                     f"  - python={python}\n  - pip\n  - pip:\n{pip}")


def save_model(som, path, *, mlflow_model=None, signature=None, input_example=None,
               pip_requirements=None, metadata=None) -> None:
    """Save a trained :class:`~minisam.MiniSam` as an MLflow model in the new folder ``path``.

    Parameters
    ----------
    som : MiniSam or fitted minisam.sklearn.SelfOrganizingMap
        An estimator is saved as its :meth:`~minisam.sklearn.SelfOrganizingMap.to_minisam`.
    path : str or path-like
        Folder to create (it must not exist yet, or be empty).
    mlflow_model : mlflow.models.Model, optional
        The model description to add the flavors to (``log_model`` passes one).
    signature : mlflow.models.ModelSignature, optional
        Default: :func:`model_signature`; ``False`` for none.
    input_example : array-like, optional
        A few samples, stored with the model.
    pip_requirements : list of str, optional
        The serving environment; default :func:`default_pip_requirements`.
    metadata : dict, optional
        Free-form metadata written to ``MLmodel``.
    """
    if not isinstance(som, MiniSam) and callable(getattr(som, "to_minisam", None)):
        som = som.to_minisam()  # a fitted minisam.sklearn.SelfOrganizingMap
    if not isinstance(som, MiniSam):
        raise TypeError(f"som must be a minisam.MiniSam or a fitted "
                        f"minisam.sklearn.SelfOrganizingMap, got {type(som).__name__}")
    path = os.fspath(path)
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise ValueError(f"path {path!r} already exists and is not an empty folder")
    os.makedirs(path, exist_ok=True)
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    if signature is None:
        signature = model_signature(som)
    if signature is not False:
        mlflow_model.signature = signature
    if input_example is not None:
        from mlflow.models.utils import _save_example

        _save_example(mlflow_model, np.asarray(input_example, dtype=np.float64), path)
    if metadata is not None:
        mlflow_model.metadata = metadata
    som.save(os.path.join(path, MODEL_FILE))
    mlflow.pyfunc.add_to_model(mlflow_model, loader_module="minisam.mlflow", data=MODEL_FILE,
                               conda_env="conda.yaml", python_env="python_env.yaml")
    mlflow_model.add_flavor(FLAVOR_NAME, data=MODEL_FILE, minisam_version=__version__,
                            shape=[som.x, som.y], input_len=som.input_len,
                            topology=som.topology, toroidal=bool(som.toroidal))
    mlflow_model.save(os.path.join(path, "MLmodel"))
    _write_environment(path, pip_requirements or default_pip_requirements())


def log_model(som, name="model", *, registered_model_name=None, signature=None,
              input_example=None, pip_requirements=None, metadata=None, **kwargs):
    """Log ``som`` as an artifact of the active run (one is started if none is) and, with
    ``registered_model_name``, register it in the model registry. Returns MLflow's
    ``ModelInfo`` (``model_uri``, ``registered_model_version``, ...). Other keywords go to
    ``mlflow.models.Model.log``."""
    # MLflow 3 names the logged model `name` (its `artifact_path` is deprecated); 2.x only
    # knows `artifact_path`.
    where = ({"artifact_path": None, "name": name}
             if "name" in inspect.signature(Model.log).parameters
             else {"artifact_path": name})
    return Model.log(**where, flavor=sys.modules[__name__], som=som,
                     registered_model_name=registered_model_name, signature=signature,
                     input_example=input_example, pip_requirements=pip_requirements,
                     metadata=metadata, **kwargs)


def _local_folder(model_uri, dst_path=None) -> str:
    return mlflow.artifacts.download_artifacts(artifact_uri=str(model_uri), dst_path=dst_path)


def load_model(model_uri, dst_path=None, *, backend=None) -> MiniSam:
    """The :class:`~minisam.MiniSam` saved at ``model_uri`` (a folder, ``runs:/...``,
    ``models:/name/version`` or any artifact URI MLflow knows)."""
    folder = _local_folder(model_uri, dst_path)
    flavors = Model.load(os.path.join(folder, "MLmodel")).flavors
    if FLAVOR_NAME not in flavors:
        raise ValueError(f"{model_uri} is not a minisam model (flavors: {sorted(flavors)})")
    return MiniSam.load(os.path.join(folder, flavors[FLAVOR_NAME]["data"]), backend=backend)


class _PyFuncModel:
    """What ``mlflow.pyfunc.load_model`` serves: ``predict`` gives the BMU table."""

    def __init__(self, som: MiniSam) -> None:
        self.som = som

    def get_raw_model(self) -> MiniSam:
        return self.som

    def predict(self, model_input, params=None) -> pd.DataFrame:
        """Per sample: ``row``, ``col``, ``index`` of its best-matching unit and the
        Euclidean ``distance`` to it."""
        if isinstance(model_input, pd.DataFrame):
            model_input = model_input.to_numpy(dtype=np.float64)
        result = self.som.bmus(np.asarray(model_input))
        return pd.DataFrame({"row": result.rows, "col": result.cols, "index": result.index,
                             "distance": result.distance})


def _load_pyfunc(path) -> _PyFuncModel:
    """MLflow's entry point (``loader_module``): ``path`` is the saved ``model.npz``."""
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILE)
    return _PyFuncModel(MiniSam.load(path))
