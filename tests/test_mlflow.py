"""minisam.mlflow: log, register and load a model against a real local tracking store."""

from __future__ import annotations

import os

import numpy as np
import pytest
from numpy.testing import assert_array_equal

# Nothing leaves the machine: no usage telemetry, no progress bars.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import mlflow  # CI installs the test extra: a missing MLflow fails there
else:
    mlflow = pytest.importorskip("mlflow")
import pandas as pd  # noqa: E402  (an MLflow dependency)

import minisam.mlflow  # noqa: E402
from minisam import MiniSam  # noqa: E402


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh SQLite tracking and registry store with local artifacts, restored after."""
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact folder is relative: keep it here
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("minisam", artifact_location=(tmp_path / "art").as_uri())
    yield experiment
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def test_log_register_load_predict(tracking):
    data = np.random.default_rng(4).random((90, 3))
    som = MiniSam(4, 5, 3, random_seed=2, topology="hexagonal", toroidal=True)
    som.train_batch(data, 5)
    with mlflow.start_run(experiment_id=tracking):
        info = minisam.mlflow.log_model(som, "som", registered_model_name="colours",
                                        input_example=data[:2])
    assert int(info.registered_model_version) == 1

    uri = "models:/colours/1"
    loaded = minisam.mlflow.load_model(uri)
    assert_array_equal(loaded.get_weights(), som.get_weights())
    assert (loaded.topology, loaded.toroidal) == ("hexagonal", True)

    scorer = mlflow.pyfunc.load_model(uri)
    signature = scorer.metadata.signature
    assert tuple(signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 3)
    assert [c["name"] for c in signature.outputs.to_dict()] == ["row", "col", "index",
                                                                 "distance"]
    table = scorer.predict(data)
    expected = som.bmus(data)
    assert list(table.columns) == ["row", "col", "index", "distance"]
    assert_array_equal(table["row"], expected.rows)
    assert_array_equal(table["col"], expected.cols)
    assert_array_equal(table["index"], expected.index)
    assert_array_equal(table["distance"], expected.distance)
    # a DataFrame of the features works too
    frame = scorer.predict(pd.DataFrame(data, columns=["r", "g", "b"]))
    assert_array_equal(frame["index"], expected.index)
    with pytest.raises(Exception, match="shape|3"):
        scorer.predict(data[:, :2])


def test_save_model_refuses_other_objects_and_used_folders(tmp_path):
    with pytest.raises(TypeError, match="MiniSam"):
        minisam.mlflow.save_model(object(), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    with pytest.raises(ValueError, match="already exists"):
        minisam.mlflow.save_model(MiniSam(2, 2, 2), tmp_path / "b")


def test_save_and_load_a_fitted_estimator(tmp_path):
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        from minisam import sklearn as sklearn_module  # CI has scikit-learn: no skip there
    else:
        sklearn_module = pytest.importorskip("minisam.sklearn")
    data = np.random.default_rng(6).random((60, 2))
    estimator = sklearn_module.SelfOrganizingMap(3, 4, n_epochs=3, random_state=0).fit(data)
    minisam.mlflow.save_model(estimator, tmp_path / "est")
    loaded = minisam.mlflow.load_model(str(tmp_path / "est"))
    assert_array_equal(loaded.get_weights(), estimator.weights_)
    assert_array_equal(loaded.bmus(data).index, estimator.predict(data))
