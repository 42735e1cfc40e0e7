"""impulse mode end to end on the real motion data (BasicMotions).

Pins: train_collection_impulse trains on the labeled part and saves a model
with its block and signal settings; an impulse run of that model gives
vectors equal to the model's own cut-layer output, and a map at least as
good as the dsp map; a model whose input does not fit the block is refused
before any sample is processed, with both shapes in the message.
"""

import numpy as np
import pytest

import fiftyone_plugin.explorer as fde
from fiftyone_plugin.demo import map_accuracy
from fiftyone_plugin.demo_data import write_motion
from fiftyone_plugin.importing import import_samples
from fiftyone_plugin.training import train_collection_impulse


@pytest.fixture(scope="module")
def motion_dir(tmp_path_factory):
    return write_motion(tmp_path_factory.mktemp("motion"))


@pytest.fixture
def motion(dataset, motion_dir):
    import_samples(dataset, motion_dir, labels="folder")
    # Hide every third label: the unlabeled part the map must place.
    ids = dataset.values("id")
    dataset.set_values("ground_truth", {i: None for i in ids[::3]}, key_field="id")
    return dataset


@pytest.fixture
def trained(motion, tmp_path):
    return train_collection_impulse(motion, tmp_path / "impulse", epochs=80)


def test_training_saves_a_model_with_its_block(trained, motion):
    assert trained.val_accuracy >= 0.8
    assert trained.n_train + trained.n_val == len(motion.exists("ground_truth"))
    assert trained.class_names == ["badminton", "running", "standing", "walking"]


def test_impulse_vectors_are_the_cut_layer_output(trained, motion):
    from fiftyone_plugin.impulse import load_impulse

    run = fde.compute_data_explorer(
        motion, mode="impulse", model_path=trained.model_path, brain_key="imp"
    )
    assert run.vector_size == 10 and run.n_mapped == 80
    record = fde.get_run_record(motion, "imp")
    assert record["vectors"]["model"]["format"] == "keras"
    assert record["vectors"]["block"]["block"] == "spectral_analysis"

    # The same features through the model directly give the same vectors.
    dsp = fde.compute_data_explorer(motion, brain_key="dsp")
    features = np.stack(motion.values("dsp_vector"))
    expected = load_impulse(trained.model_path).embed(features)
    np.testing.assert_allclose(
        np.stack(motion.values("imp_vector")), expected, atol=1e-5
    )

    assert map_accuracy(motion, "imp") >= map_accuracy(motion, "dsp")
    assert dsp.vector_size == 78


def test_model_that_does_not_fit_the_block_is_refused_before_work(trained, motion):
    with pytest.raises(
        fde.ExplorerError,
        match=r"model expects input \(78,\) but block spectral_analysis "
        r"produces \(27,\)",
    ):
        fde.compute_data_explorer(
            motion,
            mode="impulse",
            model_path=trained.model_path,
            block="spectral_analysis",
            block_params={"fft_length": 8},
            axes=["accX", "accY", "accZ"],
            brain_key="bad",
        )
    assert not motion.has_sample_field("bad_vector")


def test_train_impulse_operator_saves_a_model(motion, tmp_path):
    import fiftyone.operators as foo

    out = tmp_path / "from-operator"
    result = foo.execute_operator(
        "@data-explorer/data-explorer/train_impulse",
        ctx=dict(view=motion.view(), params=dict(out_dir=str(out), epochs=20)),
    )
    assert result.error is None, result.error
    assert (out / "model.keras").is_file() and (out / "block.json").is_file()
