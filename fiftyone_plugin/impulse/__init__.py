"""The model side of ``impulse`` mode: the user's own trained classifier, run
up to (not including) its final classification layer.

An *impulse* is a preprocessing block followed by a neural network. The block
turns a sample into features (``fiftyone_plugin.blocks``); this package runs
the network on those features and returns the output of the layer before the
classification layer as the sample's vector. For the classic motion network
(33 spectral features -> dense 20 -> dense 10 -> 4 classes) the vectors are
the 10 outputs of the last hidden layer.

Formats, recognised by content (an extension that contradicts the content is
an error):

=================  ========================================================
``keras``          Keras 3 ``.keras`` archive (loaded with ``safe_mode=True``)
``keras_h5``       Keras ``.h5`` / ``.hdf5`` whole-model file
``tf_saved_model`` SavedModel folder (``model.export()``/``tf.saved_model.save``)
``tflite``         ``.tflite`` float32 or integer-quantised (int8/uint8 I/O)
``onnx``           ``.onnx`` (float inputs)
``torchscript``    ``torch.jit.save`` archive (``.pt``/``.pth``)
``torch_state_dict`` ``torch.save(model.state_dict())`` + ``module_class``
=================  ========================================================

Model files are untrusted input: nothing is unpickled except tensors
(``torch.load(weights_only=True)``), Keras Lambda layers are refused, and a
SavedModel that reads or writes files or calls Python before the cut is
refused.

Accepted features (see :meth:`ImpulseModel.check_input`): the model's input
shape, or any per-sample shape with the same number of elements, reshaped in C
order (flat ``(650,)`` features fit a ``(50, 13)`` or ``(13, 50, 1)`` model).

Example::

    model = load_impulse("trained.tflite")       # block.json read beside it
    model.check_input((33,))                     # before any sample
    vectors = model.embed(features)              # (n, 33) -> (n, 10)
"""

from __future__ import annotations

import logging
import pathlib

from ._common import (
    DEFAULT_BATCH_SIZE,
    FORMAT_WORDS,
    ImpulseError,
    ImpulseModel,
    normalise_block_config,
    read_sidecar,
    sniff_format,
)
from ._train import MIN_LABELED, MIN_PER_CLASS, TrainResult, train_impulse

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FORMATS",
    "ImpulseError",
    "ImpulseModel",
    "MIN_LABELED",
    "MIN_PER_CLASS",
    "TrainResult",
    "detect_format",
    "load_impulse",
    "train_impulse",
]

#: Format names that :func:`load_impulse` recognises.
FORMATS = tuple(FORMAT_WORDS)


def detect_format(path) -> str:
    """The format name of the model at ``path``, read from its content;
    raises :class:`ImpulseError` for a missing or unrecognised file."""
    return sniff_format(pathlib.Path(path).expanduser())


def load_impulse(path, layer=None, block_config=None, module_class=None, *,
                 module_kwargs=None, input_shape=None) -> ImpulseModel:
    """Load a trained classifier cut before its final classification layer.

    Args:
        path: model file or SavedModel folder.
        layer: where to cut. ``None`` cuts at the input of the final weighted
            (classification) layer, i.e. after the last hidden activation.
            Otherwise the output of: a Keras layer name (or index), a SavedModel
            layer scope or tensor name, an ONNX tensor or node name, a TFLite
            tensor name or index, a torch submodule path (``"fc2"``;
            ``"fc2:input"`` for its input). A bad name raises
            :class:`ImpulseError` listing the valid ones.
        block_config: ``{"block": name, "version": v, "params": {...}}`` (or a
            Block with ``config()``); ``None`` reads ``<path>.block.json`` or
            ``block.json`` beside the model (missing: no block recorded).
        module_class: for a state dict, the ``nn.Module`` class (or
            ``"package.module:ClassName"``) the weights belong to.
        module_kwargs: keyword arguments for ``module_class``.
        input_shape: per-sample input shape, for torch models whose input
            shape cannot be read from the model (also read from block.json).

    Returns:
        An :class:`ImpulseModel`; every check on the file, the layer and the
        model structure is done here, before any sample is processed.
    """
    path = pathlib.Path(path).expanduser()
    fmt = sniff_format(path)
    sidecar, sidecar_path = read_sidecar(path)
    if block_config is not None:
        config = normalise_block_config(block_config)
    elif sidecar is not None and sidecar.get("block") is not None:
        config = normalise_block_config(sidecar, source=str(sidecar_path))
    else:
        config = None
    if input_shape is None and sidecar and sidecar.get("input_shape"):
        input_shape = tuple(int(d) for d in sidecar["input_shape"])
    runner = _runner(fmt, path, layer, module_class, module_kwargs, input_shape)
    model = ImpulseModel(
        format=fmt, path=path, runner=runner, block_config=config,
        class_names=(sidecar or {}).get("class_names"), sidecar=sidecar_path,
    )
    logger.info("loaded %s", model)
    return model


def _runner(fmt, path, layer, module_class, module_kwargs, input_shape):
    if fmt in ("keras", "keras_h5"):
        from ._keras import load_keras

        return load_keras(path, fmt, layer)
    if fmt == "tf_saved_model":
        from ._keras import load_saved_model

        return load_saved_model(path, layer)
    if fmt == "tflite":
        from ._tflite import load_tflite

        return load_tflite(path, layer)
    if fmt == "onnx":
        from ._onnx import load_onnx

        return load_onnx(path, layer)
    from . import _torch

    if fmt == "torchscript":
        return _torch.load_torchscript(path, layer, input_shape)
    return _torch.load_state_dict_model(path, layer, module_class, module_kwargs,
                                        input_shape)
