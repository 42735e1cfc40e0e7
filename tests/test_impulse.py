"""Tests for fiftyone_plugin.impulse: load a trained classifier in every format,
cut it before its classification layer, embed real features, and train one.

Features are real: per-axis FFT magnitudes of pyts' BasicMotions accelerometer
and gyroscope recordings (80 recordings, 6 axes, 4 classes), computed here with
numpy. Models are small dense networks (96 -> 20 -> 10 -> 4) trained for a few
epochs on them; every check compares against the framework's own output of
the cut layer.
"""

import json
import logging
import os
import pickle
import shutil
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fiftyone_plugin.impulse import (  # noqa: E402
    ImpulseError,
    detect_format,
    load_impulse,
    train_impulse,
)

pytest.importorskip("pyts")

# torch>=2.10 deprecates TorchScript and Keras/TF emit numpy-2 notices; both are
# noise here (the calls still work and are what users' files contain).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

logger = logging.getLogger(__name__)

BLOCK = {"block": "spectral_analysis", "version": 1, "params": {"fft_length": 32}}
FLOAT_TOL = 1e-5


# --------------------------------------------------------------------------
# Real features
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def motion():
    """``(features (80, 96) float32, codes (80,), class names)``."""
    from pyts.datasets import load_basic_motions

    x_tr, x_te, y_tr, y_te = load_basic_motions(return_X_y=True)
    x = np.concatenate([x_tr, x_te])
    y = np.concatenate([y_tr, y_te])
    names = sorted(set(y.tolist()))
    codes = np.array([names.index(v) for v in y])
    centred = x - x.mean(axis=-1, keepdims=True)
    mag = np.abs(np.fft.rfft(centred, axis=-1))[:, :, 1:17]
    feats = np.log1p(mag).reshape(len(x), -1).astype(np.float32)
    return feats, codes, names


# --------------------------------------------------------------------------
# Keras / TF / TFLite models
# --------------------------------------------------------------------------


def _keras():
    pytest.importorskip("tensorflow")
    import keras

    return keras


def _dense_keras(keras, n_in, n_classes, hidden=(20, 10)):
    inp = keras.Input((n_in,), name="features")
    x = inp
    for i, units in enumerate(hidden, 1):
        x = keras.layers.Dense(units, activation="relu", name=f"d{i}")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="cls")(x)
    return keras.Model(inp, out)


def _tflite(model, path, feats=None, int_io=True):
    """Convert to TFLite; with ``feats`` full-integer int8 (int8 input and
    output tensors unless ``int_io`` is False)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if feats is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([row[None]] for row in feats)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if feats is not None and int_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def keras_files(motion, tmp_path_factory):
    """A trained Keras model saved as .keras, .h5, SavedModel, TFLite float32
    and TFLite int8, plus reference outputs of its layers."""
    keras = _keras()
    feats, codes, names = motion
    keras.utils.set_random_seed(0)
    model = _dense_keras(keras, feats.shape[1], len(names))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(feats, codes, epochs=15, batch_size=16, verbose=0)
    root = tmp_path_factory.mktemp("keras")
    model.save(root / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(root / "model.h5")
    model.export(str(root / "saved_model"), verbose=False)
    ref = {
        name: np.asarray(keras.Model(model.inputs[0], model.get_layer(name).output)(
            feats))
        for name in ("d1", "d2")
    }
    files = {
        "keras": root / "model.keras",
        "h5": root / "model.h5",
        "saved_model": root / "saved_model",
        "tflite": _tflite(model, root / "float.tflite"),
        "tflite_int8": _tflite(model, root / "int8.tflite", feats),
        "tflite_int8_float_io": _tflite(model, root / "int8f.tflite", feats, False),
    }
    return files, ref


@pytest.mark.parametrize("kind,fmt", [("keras", "keras"), ("h5", "keras_h5"),
                                      ("saved_model", "tf_saved_model"),
                                      ("tflite", "tflite")])
def test_float_tf_formats_match_keras(keras_files, motion, kind, fmt):
    files, ref = keras_files
    feats = motion[0]
    model = load_impulse(files[kind], block_config=BLOCK)
    assert model.format == fmt and detect_format(files[kind]) == fmt
    assert model.input_shape == (96,) and model.output_dim == 10
    assert "d2" in model.layer
    calls = []
    vectors = model.embed(feats, batch_size=17, progress=lambda *a: calls.append(a))
    assert vectors.shape == (80, 10) and vectors.dtype == np.float32
    assert calls[-1] == (80, 80) and len(calls) == 5
    assert model.embed(np.zeros((0, 96), np.float32)).shape == (0, 10)
    diff = float(np.max(np.abs(vectors - ref["d2"])))
    logger.info("max |difference| %s: %.3g", kind, diff)
    assert diff <= FLOAT_TOL, f"{kind}: max diff {diff}"
    assert np.std(vectors) > 0.1  # real, varied activations
    info = json.loads(json.dumps(model.describe()))
    assert info["format"] == fmt and info["output_dim"] == 10
    assert len(info["sha256"]) == 16 and info["block_config"] == BLOCK


def _interpreter_tensor(path, name, feats):
    """The interpreter's own dequantised value of tensor ``name`` per sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = Interpreter(
            model_path=str(path), experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=(
                OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    tensor = [t for t in it.get_tensor_details() if t["name"] == name][0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = tensor["quantization"]
    rows = []
    for row in feats:
        q = row.astype(np.float32)
        if inp["dtype"] == np.int8:
            q = np.clip(np.round(row / s_in) + z_in, -128, 127).astype(np.int8)
        it.set_tensor(inp["index"], q[None])
        it.invoke()
        raw = it.get_tensor(tensor["index"]).astype(np.float32)
        rows.append(((raw - z_out) * s_out)[0])
    return np.array(rows), s_out


@pytest.mark.parametrize("kind", ["tflite_int8", "tflite_int8_float_io"])
def test_tflite_int8(keras_files, motion, kind):
    files, ref = keras_files
    feats = motion[0]
    model = load_impulse(files[kind])
    assert model.quantized and model.output_dim == 10 and "d2" in model.layer
    vectors = model.embed(feats)
    own, scale = _interpreter_tensor(files[kind], model.layer, feats)
    assert np.max(np.abs(vectors - own)) <= scale
    # Against the float Keras layer: within the quantisation error of the
    # int8 network (measured: mean 0.39, max 3.64 steps of `scale`).
    err = np.abs(vectors - ref["d2"]) / scale
    logger.info("%s: scale %.4g, vs interpreter %.3g, vs float Keras mean %.2f "
                "max %.2f steps", kind, scale, np.max(np.abs(vectors - own)),
                err.mean(), err.max())
    assert err.mean() <= 1.0 and err.max() <= 6.0, (err.mean(), err.max())
    assert vectors.std() > 0.1


def test_keras_layer_naming(keras_files, motion):
    files, ref = keras_files
    feats = motion[0]
    d1 = load_impulse(files["keras"], layer="d1")
    assert d1.layer == "d1" and d1.output_dim == 20
    assert np.max(np.abs(d1.embed(feats) - ref["d1"])) <= FLOAT_TOL
    with pytest.raises(ImpulseError, match=r"'nope'.*'d1', 'd2', 'cls'"):
        load_impulse(files["keras"], layer="nope")
    with pytest.raises(ImpulseError, match="model input"):
        load_impulse(files["keras"], layer="features")
    sm = load_impulse(files["saved_model"], layer="d1")
    assert sm.output_dim == 20
    assert np.max(np.abs(sm.embed(feats) - ref["d1"])) <= FLOAT_TOL
    with pytest.raises(ImpulseError, match="valid layer scopes"):
        load_impulse(files["saved_model"], layer="nope")


def test_tflite_layer_naming(keras_files, motion):
    files, ref = keras_files
    feats = motion[0]
    default = load_impulse(files["tflite"])
    by_name = load_impulse(files["tflite"], layer=default.layer)
    assert by_name.layer == default.layer
    index = by_name._runner._cut
    by_index = load_impulse(files["tflite"], layer=index)
    assert np.array_equal(by_index.embed(feats), default.embed(feats))
    with pytest.raises(ImpulseError, match="valid tensor names") as err:
        load_impulse(files["tflite"], layer="nope")
    assert default.layer in str(err.value)


def test_reshape_to_model_input(motion, tmp_path):
    """Flat (96,) features feed a model whose input is (16, 6)."""
    keras = _keras()
    feats = motion[0]
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 6))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(10, activation="relu", name="hid")(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    keras.Model(inp, out).save(tmp_path / "shaped.keras")
    model = load_impulse(tmp_path / "shaped.keras")
    assert model.input_shape == (16, 6)
    assert model.check_input((96,)) == (16, 6)
    flat = model.embed(feats)
    shaped = model.embed(feats.reshape(-1, 16, 6))
    assert np.array_equal(flat, shaped) and flat.shape == (80, 10)


def test_wrong_input_shape_message(keras_files, motion):
    files, _ = keras_files
    model = load_impulse(files["keras"], block_config=BLOCK)
    msg = r"model expects input \(96,\) but block spectral_analysis produces \(39,\)"
    with pytest.raises(ImpulseError, match=msg):
        model.check_input((39,))
    with pytest.raises(ImpulseError, match=msg):
        model.embed(np.zeros((3, 39), np.float32))
    bare = load_impulse(files["tflite"])
    with pytest.raises(ImpulseError, match=r"expects input \(96,\) but the features"):
        bare.check_input((95,))


def _tf_module_saved_model(path, marker, read_into_output):
    """A SavedModel (tf.Module, two dense layers) whose serving function
    writes ``marker`` as a side effect, or reads it into its output."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(rng.normal(size=(96, 20)).astype(np.float32))
            self.w2 = tf.Variable(rng.normal(size=(20, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 96], tf.float32)])
        def serve(self, x):
            if read_into_output:
                x = x + tf.strings.to_number(tf.io.read_file(str(marker)))
            else:
                tf.io.write_file(str(marker), "written")
            hidden = tf.nn.relu(tf.matmul(x, self.w1))
            return tf.nn.softmax(tf.matmul(hidden, self.w2))

    net = Net()
    tf.saved_model.save(net, str(path), signatures=net.serve)
    return net


def test_saved_model_side_effects(motion, tmp_path):
    _keras()
    feats = motion[0]
    marker = tmp_path / "MARKER_written_by_model"
    net = _tf_module_saved_model(tmp_path / "writer", marker, False)
    model = load_impulse(tmp_path / "writer")
    vectors = model.embed(feats)
    ref = np.maximum(feats @ net.w1.numpy(), 0)
    assert model.output_dim == 20 and np.allclose(vectors, ref, rtol=1e-5, atol=1e-4)
    assert not marker.exists()  # the pruned graph never runs the WriteFile op
    _tf_module_saved_model(tmp_path / "reader", marker, True)
    with pytest.raises(ImpulseError, match="ReadFile op"):
        load_impulse(tmp_path / "reader")


def test_keras_lambda_refused(tmp_path):
    keras = _keras()
    inp = keras.Input((4,))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(inp)
    x = keras.layers.Dense(3)(x)
    out = keras.layers.Dense(2)(x)
    model = keras.Model(inp, out)
    model.save(tmp_path / "lam.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "lam.h5")
    for name in ("lam.keras", "lam.h5"):
        with pytest.raises(ImpulseError, match=r"Lambda layer\(s\) \['doubler'\]"):
            load_impulse(tmp_path / name)


# --------------------------------------------------------------------------
# PyTorch / ONNX models
# --------------------------------------------------------------------------

NET_SOURCE = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F


    class MotionNet(torch.nn.Module):
        def __init__(self, n_in=96, n_classes=4):
            super().__init__()
            self.fc1 = torch.nn.Linear(n_in, 20)
            self.fc2 = torch.nn.Linear(20, 10)
            self.out = torch.nn.Linear(10, n_classes)

        def hidden(self, x):
            return F.relu(self.fc2(F.relu(self.fc1(x))))

        def forward(self, x):
            return F.softmax(self.out(self.hidden(x)), dim=-1)


    class OneLayer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.out = torch.nn.Linear(96, 4)

        def forward(self, x):
            return F.softmax(self.out(x), dim=-1)
    """
)


class _Marker:
    """Unpickling this would create a marker file (it must never happen)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.fixture(scope="module")
def torch_net(motion, tmp_path_factory):
    """A trained MotionNet (importable as ``impulse_user_net:MotionNet``), its
    files (TorchScript, state dict, ONNX dynamic and fixed batch) and the
    reference hidden outputs."""
    torch = pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("torch")
    (root / "impulse_user_net.py").write_text(NET_SOURCE)
    sys.path.insert(0, str(root))
    import impulse_user_net

    feats, codes, _ = motion
    torch.manual_seed(0)
    net = impulse_user_net.MotionNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = torch.from_numpy(feats), torch.from_numpy(codes)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.nll_loss(torch.log(net(x) + 1e-9), y).backward()
        opt.step()
    net.eval()
    files = {"script": root / "net.pt", "traced": root / "traced.pt",
             "state": root / "net.pth", "onnx": root / "net.onnx",
             "onnx_b1": root / "net_b1.onnx"}
    torch.jit.save(torch.jit.script(net), str(files["script"]))
    torch.jit.save(torch.jit.trace(net, x[:2]), str(files["traced"]))
    torch.save(net.state_dict(), files["state"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x[:1],), str(files["onnx"]), dynamo=False,
                          input_names=["features"], output_names=["probs"],
                          dynamic_axes={"features": {0: "n"}, "probs": {0: "n"}})
        torch.onnx.export(net, (x[:1],), str(files["onnx_b1"]), dynamo=False)
    with torch.no_grad():
        ref = {"hidden": net.hidden(x).numpy(), "fc1": net.fc1(x).numpy(),
               "fc2": net.fc2(torch.relu(net.fc1(x))).numpy()}
    yield impulse_user_net, files, ref
    sys.path.remove(str(root))


@pytest.mark.parametrize("kind,fmt", [
    ("script", "torchscript"), ("traced", "torchscript"), ("onnx", "onnx"),
    ("onnx_b1", "onnx"),
])
def test_torch_and_onnx_match(torch_net, motion, kind, fmt):
    _, files, ref = torch_net
    feats = motion[0]
    model = load_impulse(files[kind])
    assert model.format == fmt and model.output_dim == 10
    assert model.input_shape == (96,)
    vectors = model.embed(feats, batch_size=32)
    diff = float(np.max(np.abs(vectors - ref["hidden"])))
    logger.info("max |difference| %s: %.3g", kind, diff)
    assert diff <= FLOAT_TOL, f"{kind}: max diff {diff}"
    assert vectors.std() > 0.1
    json.dumps(model.describe())


def test_state_dict_with_module_class(torch_net, motion):
    user_net, files, ref = torch_net
    feats = motion[0]
    for cls in (user_net.MotionNet, "impulse_user_net:MotionNet"):
        model = load_impulse(files["state"], module_class=cls)
        assert model.format == "torch_state_dict"
        assert model.layer == "out:input" and model.output_dim == 10
        diff = float(np.max(np.abs(model.embed(feats) - ref["hidden"])))
        logger.info("max |difference| state dict (%s): %.3g", cls, diff)
        assert diff <= FLOAT_TOL
    with pytest.raises(ImpulseError, match="pass module_class"):
        load_impulse(files["state"])
    with pytest.raises(ImpulseError, match="cannot be imported"):
        load_impulse(files["state"], module_class="impulse_user_net:Missing")
    with pytest.raises(ImpulseError, match="do not fit OneLayer"):
        load_impulse(files["state"], module_class=user_net.OneLayer)


def test_torch_and_onnx_layer_naming(torch_net, motion):
    user_net, files, ref = torch_net
    feats = motion[0]
    script = load_impulse(files["script"])
    assert script.layer == "out:input"
    fc2 = load_impulse(files["script"], layer="fc2")
    assert np.max(np.abs(fc2.embed(feats) - ref["fc2"])) <= FLOAT_TOL
    state = load_impulse(files["state"], layer="fc1", module_class=user_net.MotionNet)
    assert state.output_dim == 20
    assert np.max(np.abs(state.embed(feats) - ref["fc1"])) <= FLOAT_TOL
    for path, kwargs in ((files["script"], {}),
                         (files["state"], {"module_class": user_net.MotionNet})):
        with pytest.raises(ImpulseError, match=r"'fc1', 'fc2', 'out'"):
            load_impulse(path, layer="fc9", **kwargs)
    onnx_fc1 = load_impulse(files["onnx"], layer="/fc1/Gemm_output_0")
    assert np.max(np.abs(onnx_fc1.embed(feats) - ref["fc1"])) <= FLOAT_TOL
    with pytest.raises(ImpulseError, match="valid tensor names.*Relu_output_0"):
        load_impulse(files["onnx"], layer="nope")


def test_malicious_pickles_are_refused(torch_net, tmp_path):
    torch = pytest.importorskip("torch")
    user_net, _, _ = torch_net
    marker = tmp_path / "MARKER_created_by_unpickling"
    evil_zip = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(20, 96), "x": _Marker(marker)}, evil_zip)
    evil_legacy = tmp_path / "evil_legacy.pth"
    with open(evil_legacy, "wb") as fh:
        pickle.dump({"x": _Marker(marker)}, fh, protocol=2)
    whole = tmp_path / "whole_model.pt"
    torch.save(user_net.MotionNet(), whole)
    for path in (evil_zip, evil_legacy, whole):
        with pytest.raises(ImpulseError, match="refused to load"):
            load_impulse(path, module_class=user_net.MotionNet)
    assert not marker.exists()


# --------------------------------------------------------------------------
# Bad files, one-layer models
# --------------------------------------------------------------------------


def test_missing_and_wrong_files(keras_files, tmp_path):
    files, _ = keras_files
    with pytest.raises(ImpulseError, match="does not exist"):
        load_impulse(tmp_path / "nothing.tflite")
    text = tmp_path / "model.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(ImpulseError, match="text file, not a model"):
        load_impulse(text)
    renamed = tmp_path / "model.tflite"
    shutil.copy(files["keras"], renamed)
    msg = r"named \.tflite but its content is a Keras"
    with pytest.raises(ImpulseError, match=msg):
        load_impulse(renamed)
    other_zip = tmp_path / "other.tflite"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ImpulseError, match="zip archive that holds no known model"):
        load_impulse(other_zip)
    onnx_named_h5 = tmp_path / "model.h5"
    shutil.copy(files["tflite"], onnx_named_h5)
    with pytest.raises(ImpulseError, match=r"named \.h5 but its content is a TFLite"):
        load_impulse(onnx_named_h5)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 512,
                                                             dtype=np.uint8)))
    with pytest.raises(ImpulseError, match="not a recognised model"):
        load_impulse(junk)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ImpulseError, match="empty"):
        load_impulse(empty)
    with pytest.raises(ImpulseError, match="not a TensorFlow SavedModel"):
        load_impulse(tmp_path)


def test_one_layer_models_are_refused(tmp_path, torch_net):
    keras = _keras()
    torch = pytest.importorskip("torch")
    user_net, _, _ = torch_net
    one = _dense_keras(keras, 96, 4, hidden=())
    one.save(tmp_path / "one.keras")
    paths = [tmp_path / "one.keras", _tflite(one, tmp_path / "one.tflite")]
    net = user_net.OneLayer().eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "one.pt"))
    torch.save(net.state_dict(), tmp_path / "one_state.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 96),), str(tmp_path / "one.onnx"),
                          dynamo=False)
    paths += [tmp_path / "one.pt", tmp_path / "one.onnx"]
    for path in paths:
        with pytest.raises(ImpulseError, match="single layer.*nothing to cut"):
            load_impulse(path)
    with pytest.raises(ImpulseError, match="single layer"):
        load_impulse(tmp_path / "one_state.pt", module_class=user_net.OneLayer)


def test_sidecar_block_json(keras_files, tmp_path):
    files, _ = keras_files
    model_path = tmp_path / "m.tflite"
    shutil.copy(files["tflite"], model_path)
    assert load_impulse(model_path).block_config is None
    (tmp_path / "block.json").write_text(json.dumps({**BLOCK, "class_names": ["a"]}))
    model = load_impulse(model_path)
    assert model.block_config == BLOCK and model.class_names == ["a"]
    own = {"block": "raw", "version": 2, "params": {}}
    (tmp_path / "m.tflite.block.json").write_text(json.dumps(own))
    assert load_impulse(model_path).block_config == own
    explicit = {"block": "mfe", "params": {"n": 1}}
    assert load_impulse(model_path, block_config=explicit).block_name == "mfe"
    (tmp_path / "m.tflite.block.json").write_text("{not json")
    with pytest.raises(ImpulseError, match="not valid JSON"):
        load_impulse(model_path)
    with pytest.raises(ImpulseError, match="'block' name"):
        load_impulse(files["tflite"], block_config={"params": {}})


# --------------------------------------------------------------------------
# train_impulse
# --------------------------------------------------------------------------


def test_train_refusals(motion, tmp_path):
    feats, codes, names = motion
    one_class = np.where(codes == 0, 0, -1)
    with pytest.raises(ImpulseError, match="at least 2 classes; got 1"):
        train_impulse(feats, one_class, names, tmp_path, BLOCK)
    few = np.full(80, -1)
    few[[0, 1, 2, 3, 40, 41, 42, 43, 60]] = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    with pytest.raises(ImpulseError, match="at least 10 labeled samples; got 9"):
        train_impulse(feats, few, names, tmp_path, BLOCK)
    lonely = codes.copy()
    lonely[codes == 3] = -1
    lonely[np.flatnonzero(codes == 3)[0]] = 3
    with pytest.raises(ImpulseError, match=r"at least 2 samples.*'Walking': 1"):
        train_impulse(feats, lonely, names, tmp_path, BLOCK)
    with pytest.raises(ImpulseError, match=r"codes must lie in -1\.\.3"):
        train_impulse(feats, np.where(codes == 3, 7, codes), names, tmp_path, BLOCK)
    with pytest.raises(ImpulseError, match="needs the block_config"):
        train_impulse(feats, codes, names, tmp_path, None)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_train_impulse_and_reload(motion, tmp_path, framework):
    if framework == "keras":
        keras = _keras()
    else:
        torch = pytest.importorskip("torch")
    feats, codes, names = motion
    codes = codes.copy()
    codes[::10] = -1  # 8 unlabeled samples are ignored
    result = train_impulse(feats, codes, names, tmp_path / "out", BLOCK,
                           framework=framework, seed=0)
    assert result.n_train + result.n_val == 72 and result.n_val == 16
    # Measured: 1.0 (16 of 16) for both frameworks with the defaults here
    # (0.9375 with all 80 samples labeled).
    logger.info("%s: validation accuracy %.4f", framework, result.val_accuracy)
    assert result.val_accuracy >= 0.85
    assert len(result.history["val_accuracy"]) == 60
    block = json.loads((tmp_path / "out" / "block.json").read_text())
    assert block["block"] == "spectral_analysis" and block["class_names"] == names
    assert block["input_shape"] == [96] and len(block["normalization"]["mean"]) == 96
    model = load_impulse(result.model_path)
    assert model.block_config == BLOCK and model.class_names == names
    assert model.output_dim == 10 and model.layer == block["cut_layer"]
    vectors = model.embed(feats)
    if framework == "keras":
        saved = keras.models.load_model(result.model_path)
        ref = np.asarray(keras.Model(saved.inputs[0],
                                     saved.get_layer("hidden_2").output)(feats))
    else:
        saved = torch.jit.load(result.model_path)
        with torch.no_grad():
            x = (torch.from_numpy(feats) - saved.mean) / saved.std
            for i in range(2):
                x = torch.relu(getattr(saved.hidden, str(i))(x))
        ref = x.numpy()
    assert np.max(np.abs(vectors - ref)) <= FLOAT_TOL
    # the vectors separate the classes: nearest class centroid is right
    centroids = np.stack([vectors[motion[1] == c].mean(0) for c in range(4)])
    nearest = np.argmin(((vectors[:, None] - centroids) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == motion[1]) >= 0.85
