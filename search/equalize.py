"""Cross-layer range equalization before int8 conversion (after Nagel et al., 2019,
"Data-Free Quantization Through Weight Equalization and Bias Correction").

A full-integer TFLite file keeps each tensor between ops on one 8-bit grid for the whole
tensor, whatever the ranges of its channels. Where one channel of a batch normalisation's
output spans 30 and another 3, the second gets a tenth of the levels. The function is
unchanged if channel ``c`` of the batch normalisation is divided by ``u_c`` (its ``gamma``
and ``beta``) and the next layer's weights for input channel ``c`` are multiplied by
``u_c``: the activations between them (LeakyReLU, ReLU without a cap) are positively
homogeneous, and pooling and dropout act per channel. So the float model is the same (to
rounding), and the channels can be given equal ranges on the calibration images:

- the next layer is depthwise (``SeparableConv2D``, ``DepthwiseConv2D``): its int8 weights
  are per channel, so scaling an input channel costs them nothing: the ranges are made
  equal (``u_c`` = the channel's range over their geometric mean);
- the next layer mixes channels (``Conv2D``, ``Dense``, after a flatten or a global
  pooling): its int8 weights are per output channel, so a large ``u_c`` coarsens them; the
  range is shared between them as Nagel et al. share it between two layers' weights
  (``u_c`` = sqrt(range_c / max|w_c|), normalised).

Used by :mod:`search.export` for the int8 file: it converts the model both as trained and
equalized, takes each file's steady error out (:func:`search.export.bias_corrected`) and
ships the file closer to the Keras model on the calibration images (``--no-equalize``: as
trained only); every other format converts the model as trained. A
chain the rules do not cover is left alone: a ReLU6; an output with two readers, an op
(``x + y``, a ``keras.ops`` call) or a model output among them; a batch normalisation called
more than once or over another axis than the last; a grouped or channels-first reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Pair:
    """A batch normalisation whose output channels may be rescaled, and the layer that
    reads them (through ``between``: activations, pooling, dropout, a flatten)."""

    bn: Any
    between: tuple[Any, ...]
    reader: Any

    @property
    def depthwise(self) -> bool:
        import keras

        return isinstance(self.reader, (keras.layers.SeparableConv2D,
                                        keras.layers.DepthwiseConv2D))


_OUTPUT = object()  # stands for "the model returns this tensor" among an op's readers


def _readers(model) -> dict[str, list[Any]]:
    """For each operation's name, every use of its output: each call of a layer or op on it
    (``model.operations`` holds ops such as ``x + y`` and ``keras.ops`` calls, which
    ``model.layers`` misses) and each model output it is."""
    out: dict[str, list[Any]] = {}
    for op in model.operations:
        for node in op._inbound_nodes:
            for t in node.input_tensors:
                out.setdefault(t._keras_history.operation.name, []).append(op)
    for t in model.outputs:
        out.setdefault(t._keras_history.operation.name, []).append(_OUTPUT)
    return out


def _channels_last(layer) -> bool:
    """Its channels are the last axis, each with its own slice of the kernel: the layout the
    rescaling assumes (a channels-first layer, a batch normalisation over another axis and
    a grouped conv are not)."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, len(layer.input.shape) - 1)
    if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) != 1:
        return False  # a grouped kernel holds in/groups input channels
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def _per_channel(layer) -> bool:
    """Acts on each channel alone and commutes with a positive scale of it."""
    import keras

    if isinstance(layer, keras.layers.LeakyReLU):
        return True
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and float(layer.threshold) == 0.0
    return isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
                              keras.layers.Dropout, keras.layers.Flatten,
                              keras.layers.GlobalAveragePooling2D))


def pairs(model) -> list[Pair]:
    """The batch normalisations of ``model`` whose output channels reach one weighted layer
    along a single path of per-channel layers, with that layer."""
    import keras

    readers = _readers(model)
    found = []
    for layer in model.layers:
        if not (isinstance(layer, keras.layers.BatchNormalization) and layer.scale
                and layer.center and len(layer._inbound_nodes) == 1
                and _channels_last(layer)):
            continue
        between: list[Any] = []
        node = layer
        while True:
            nxt = readers.get(node.name, [])
            if len(nxt) != 1 or nxt[0] is _OUTPUT or len(nxt[0]._inbound_nodes) != 1:
                break
            node = nxt[0]
            if isinstance(node, (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
                                 keras.layers.Conv2D, keras.layers.Dense)):
                if _channels_last(node):
                    found.append(Pair(layer, tuple(between), node))
                break
            if not _per_channel(node) or not _channels_last(node):
                break
            if isinstance(node, keras.layers.Flatten) and not isinstance(
                    (readers.get(node.name) or [None])[0], keras.layers.Dense):
                break
            between.append(node)
    return found


def _input_rows(pair: Pair) -> tuple[str, int]:
    """The reader's weight that multiplies the rescaled channels, and how many rows each
    channel has in it (a flatten turns each channel into one row per position)."""
    import keras

    reader = pair.reader
    if isinstance(reader, keras.layers.SeparableConv2D):
        return "depthwise_kernel", 1
    if isinstance(reader, keras.layers.Dense):
        flat = next((b for b in pair.between if isinstance(b, keras.layers.Flatten)), None)
        if flat is None:
            return "kernel", 1
        positions = int(np.prod(flat.input.shape[1:-1]))
        return "kernel", positions
    return "kernel", 1


def _weight(layer, name: str):
    return next(v for v in layer.weights if v.path.split("/")[-1] == name)


def _scaled_rows(w: np.ndarray, u: np.ndarray, reader, positions: int) -> np.ndarray:
    """``w`` with input channel ``c`` multiplied by ``u[c]``."""
    import keras

    if isinstance(reader, keras.layers.Dense):  # [in, out]; in = positions x channels
        rows = w.reshape(positions, len(u), w.shape[-1]) * u[None, :, None]
        return rows.reshape(w.shape)
    return w * u.reshape((1, 1, -1, 1))  # conv kernels: [kh, kw, in, out or multiplier]


def equalize(model, images: np.ndarray) -> dict[str, Any]:
    """Equalize ``model``'s channel ranges in place (see the module); return what was done,
    for the model card: per pair, the spread of the channel ranges (largest over smallest)
    before and after."""
    import keras

    found = pairs(model)
    if not found:
        return {"pairs": 0}
    x = np.asarray(images, np.float32)
    probe = keras.Model(model.input, [p.bn.output for p in found])
    outs = probe.predict(x, verbose=0, batch_size=64)
    if len(found) == 1:
        outs = [outs]
    done = []
    for pair, out in zip(found, outs, strict=True):
        flat = np.asarray(out).reshape(-1, out.shape[-1])
        span = flat.max(axis=0) - flat.min(axis=0)
        live = span > 1e-6 * max(float(span.max()), 1e-12)
        if live.sum() < 2:
            continue
        name, positions = _input_rows(pair)
        w = _weight(pair.reader, name)
        kernel = np.asarray(w.numpy())
        if pair.depthwise:
            want = span
        else:  # share the range between the activations and the reader's weights
            rows = np.abs(kernel.reshape(positions, len(span), -1) if
                          isinstance(pair.reader, keras.layers.Dense) else
                          np.moveaxis(kernel, 2, 0).reshape(1, len(span), -1))
            r2 = rows.max(axis=(0, 2))
            live &= r2 > 0
            want = np.sqrt(span / np.where(r2 > 0, r2, 1.0))
        if live.sum() < 2:
            continue
        u = np.ones_like(span)
        u[live] = want[live] / np.exp(np.mean(np.log(want[live])))
        gamma, beta = _weight(pair.bn, "gamma"), _weight(pair.bn, "beta")
        gamma.assign(np.asarray(gamma.numpy()) / u)
        beta.assign(np.asarray(beta.numpy()) / u)
        w.assign(_scaled_rows(kernel, u, pair.reader, positions))
        after = span[live] / u[live]
        done.append({"bn": pair.bn.name, "reader": pair.reader.name,
                     "spread_before": round(float(span[live].max() / span[live].min()), 2),
                     "spread_after": round(float(after.max() / after.min()), 2)})
    return {"pairs": len(done), "layers": done}


def equalized(model, images: np.ndarray):
    """An equalized copy of ``model`` (its own weights; ``model`` is left as it is) and what
    was done."""
    import keras

    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin, equalize(twin, images)
