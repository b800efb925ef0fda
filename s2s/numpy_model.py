"""The encoder-decoder of s2s.model as a NumPy forward pass: decoding without TensorFlow.

Only NumPy is imported (~0.1 s, where TensorFlow takes 3-5 s), so the web server's process can decode itself.
`NumpySeq2Seq` is built from a problem, model settings and the weight arrays in the order the Keras training
model's get_weights() gives them (a Timeline's snapshot, or a model folder read by `load`, through h5py: Keras's
own dependency). It offers what decoding asks of a model: `problem`, `config`, `run_decoder` (so
s2s.decode.decode and predict take it as they take a Seq2Seq, and return the same Trace) and `encode` / `step` on
the same packed state (so s2s.strategies' beam search and sampling take it too). It does not train.

The math is Keras's, in float32: an LSTM's kernel holds its gates' columns in the order i, f, c, o; the gates
are sigmoids and the cell and output tanh; a one-hot input times a kernel is the kernel's row, `W[token]`.
Attention is Luong's dot product, as in s2s.model: softmax over s . e_j, the weighted mean of the e_j, and
tanh(W [context; s] + b) before the output softmax. Results match TensorFlow's to float32 rounding, not bit for
bit (sums run in another order).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2s import decode as decoding
from s2s import store
from s2s.config import ModelConfig, ProblemConfig
from s2s.data import START_TOKEN
from s2s.snapshots import Timeline

LSTM_PARTS = ("kernel", "recurrent_kernel", "bias")
DENSE_PARTS = ("kernel", "bias")


def layer_name(side: str, index: int) -> str:
    """The Keras layer names of s2s.model.layer_name (restated here: that module imports TensorFlow)."""
    return f"{side}_lstm" if index == 0 else f"{side}_lstm_{index + 1}"


def weight_layout(problem: ProblemConfig, config: ModelConfig) -> list[tuple[str, str, tuple[int, ...]]]:
    """(layer, weight, shape) of every array, in get_weights() order. Keras orders a functional model's layers by
    their depth in the graph, so each encoder layer comes with the decoder layer its state starts, then the
    attention's combining layer, then the output layer (a test holds this against the built Keras model)."""
    units, classes = config.units, problem.n_classes
    layout = []
    for i in range(config.layers):
        width = classes if i == 0 else units  # the first layer reads one-hots, the others the layer below
        for side in ("encoder", "decoder"):
            shapes = ((width, 4 * units), (units, 4 * units), (4 * units,))
            layout += [(layer_name(side, i), part, shape) for part, shape in zip(LSTM_PARTS, shapes)]
    if config.attention:
        layout += [("attention_combine", "kernel", (2 * units, units)), ("attention_combine", "bias", (units,))]
    return layout + [("decoder_dense", "kernel", (units, classes)), ("decoder_dense", "bias", (classes,))]


def weight_shapes(problem: ProblemConfig, config: ModelConfig) -> list[tuple[int, ...]]:
    """The shapes of a model's weight arrays, in get_weights() order."""
    return [shape for _, _, shape in weight_layout(problem, config)]


def _state_width(config: ModelConfig) -> int:
    """The width of the packed hidden state: every layer's side by side."""
    return config.layers * config.units


def _softmax(x: np.ndarray) -> np.ndarray:
    exponent = np.exp(x - x.max(axis=-1, keepdims=True))
    return exponent / exponent.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class _Lstm:
    """An LSTM layer's arrays with the columns of its sigmoid gates (i, f, o) halved, so that one tanh over all
    four gates gives the cell's tanh(z) and each gate's sigmoid as 0.5 * tanh(0.5 * z) + 0.5. The tanh form never
    overflows (1 / (1 + exp(-z)) warns past z = -88 in float32) and differs from it by less than float32's
    rounding; halving a float32 is exact, so z / 2 comes out bit for bit, in one pass over the gates instead of
    one per gate."""

    kernel: np.ndarray     # (input width, 4 * units), gate columns i, f, c, o, the i, f and o columns halved
    recurrent: np.ndarray  # (units, 4 * units), halved the same way
    bias: np.ndarray       # (4 * units,), halved the same way

    @classmethod
    def of(cls, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> _Lstm:
        units = recurrent.shape[0]
        scale = np.full(4 * units, 0.5, np.float32)
        scale[2 * units:3 * units] = 1.0  # the cell's candidate c stays a tanh of z itself
        return cls(kernel * scale, recurrent * scale, bias * scale)

    def cell(self, projected: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step from the input already times the (halved) kernel (B, 4 * units) and the state before it."""
        z = projected + h @ self.recurrent
        z += self.bias
        np.tanh(z, out=z)
        i, f, g, o = np.split(z, 4, axis=-1)
        c = (0.5 * f + 0.5) * c + (0.5 * i + 0.5) * g
        return (0.5 * o + 0.5) * np.tanh(c), c

    def sequence(self, projected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every step of a sequence (B, L, 4 * units) from a zero state: outputs (B, L, units), final h and c."""
        batch, length = projected.shape[:2]
        h = c = np.zeros((batch, self.recurrent.shape[0]), np.float32)
        outputs = np.empty((batch, length, h.shape[1]), np.float32)
        for t in range(length):
            h, c = self.cell(projected[:, t], h, c)
            outputs[:, t] = h
        return outputs, h, c


class NumpySeq2Seq:
    """The encoder-decoder's inference views in NumPy: encode, step, and a whole decode (see the module docstring).

    The packed state is s2s.model's: `h` every layer's hidden state side by side (B, layers * units); `c` every
    layer's cell state side by side, followed, with attention, by the encoder's outputs (B, length * units)."""

    def __init__(self, problem: ProblemConfig, config: ModelConfig, weights: list[np.ndarray]):
        self.problem, self.config = problem, config
        self.one_hots = np.eye(problem.n_classes, dtype=np.float32)
        self.set_weights(weights)

    def weight_shapes(self) -> list[tuple[int, ...]]:
        return weight_shapes(self.problem, self.config)

    def copy(self) -> NumpySeq2Seq:
        """Another network with its own copy of these weights (setting its weights leaves this one as it is)."""
        return NumpySeq2Seq(self.problem, self.config, self._weights)

    def count_params(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.weight_shapes())

    def get_weights(self) -> list[np.ndarray]:
        """The weight arrays in the Keras training model's get_weights() order."""
        return list(self._weights)

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Take new weight arrays (get_weights() order; copied as float32), checked against the model's layout:
        ValueError naming the first that does not fit."""
        problem, config = self.problem, self.config
        layout = weight_layout(problem, config)
        if len(weights) != len(layout):
            raise ValueError(f"A model of {config} on values 1..{problem.cardinality} has {len(layout)} weight "
                             f"arrays, got {len(weights)}.")
        for (layer, part, shape), array in zip(layout, weights):
            if tuple(np.shape(array)) != shape:
                raise ValueError(f"The weight {layer}/{part} must have shape {shape} for {config} on values "
                                 f"1..{problem.cardinality}, got {tuple(np.shape(array))}.")
        self._weights = [np.array(w, np.float32, order="C") for w in weights]
        arrays = iter(self._weights)
        self.encoder_lstms, self.decoder_lstms = [], []
        for _ in range(config.layers):  # get_weights() order: encoder then decoder layer, level by level
            self.encoder_lstms.append(_Lstm.of(*(next(arrays) for _ in LSTM_PARTS)))
            self.decoder_lstms.append(_Lstm.of(*(next(arrays) for _ in LSTM_PARTS)))
        self.combine = (next(arrays), next(arrays)) if config.attention else None
        self.dense = (next(arrays), next(arrays))

    @classmethod
    def from_timeline(cls, problem: ProblemConfig, config: ModelConfig, timeline: Timeline, k: int) -> NumpySeq2Seq:
        """The model as it was at snapshot k of its training timeline."""
        return cls(problem, config, timeline.at(k))

    def encode(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The packed state (h, c) the decoder starts from, for a batch of sources (B, L) of tokens."""
        source = np.asarray(source, np.int32)
        outputs, hs, cs = None, [], []
        for lstm in self.encoder_lstms:
            # The first layer reads one-hots, and a one-hot times the kernel is the kernel's row: (B, L, 4 * units).
            projected = lstm.kernel[source] if outputs is None else outputs @ lstm.kernel
            outputs, h, c = lstm.sequence(projected)
            hs.append(h)
            cs.append(c)
        if self.config.attention:
            cs.append(outputs.reshape(source.shape[0], -1))
        return np.concatenate(hs, axis=1), np.concatenate(cs, axis=1)

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One decoder step for a batch: input vectors (B, classes) and packed state -> (probs, next h, next c)."""
        probs, h, c, _ = self._step(np.asarray(x, np.float32) @ self.decoder_lstms[0].kernel, h, c)
        return probs, h, c

    def _step(self, projected: np.ndarray, h: np.ndarray, c: np.ndarray):
        """One decoder step from the first layer's input times its kernel: probs, packed h and c, and the
        attention weights (B, L), empty (B, 0) without attention."""
        units, layers = self.config.units, self.config.layers
        hs, cs = np.split(h, layers, axis=1), np.split(c[:, :layers * units], layers, axis=1)
        y, new_h, new_c = None, [], []
        for lstm, h_i, c_i in zip(self.decoder_lstms, hs, cs):
            y, c_i = lstm.cell(projected if y is None else y @ lstm.kernel, h_i, c_i)
            new_h.append(y)
            new_c.append(c_i)
        if self.config.attention:
            memory = c[:, layers * units:].reshape(c.shape[0], -1, units)  # the encoder's outputs (B, L, units)
            weights = _softmax((memory @ y[:, :, None])[:, :, 0])
            context = (weights[:, None, :] @ memory)[:, 0]
            kernel, bias = self.combine
            y = np.tanh(np.concatenate([context, y], axis=1) @ kernel + bias)
            new_c.append(c[:, layers * units:])
        else:
            weights = np.zeros((c.shape[0], 0), np.float32)
        kernel, bias = self.dense
        return _softmax(y @ kernel + bias), np.concatenate(new_h, axis=1), np.concatenate(new_c, axis=1), weights

    def run_decoder(self, source: np.ndarray, softmax_feed: bool = False,
                    forced: dict[int, int] | None = None) -> dict[str, np.ndarray]:
        """Seq2Seq.run_decoder's contract: encode and decode a batch (B, L) of valid tokens, returning per step
        the input vector, probabilities, token taken, state after it and attention weights (B, steps, L; empty
        without attention), plus the context. `forced` maps step index -> token taken instead of the argmax."""
        source, forced = np.asarray(source, np.int32), forced or {}
        batch, steps, width = source.shape[0], self.problem.steps_for(source.shape[1]), _state_width(self.config)
        h, c = self.encode(source)
        columns = {"inputs": [], "probs": [], "tokens": [], "states_h": [], "states_c": [], "attention": []}
        context = {"context_h": h, "context_c": c[:, :width]}
        kernel = self.decoder_lstms[0].kernel
        # The first input: the start token's one-hot, or the classic loop's all-zero vector.
        token = np.full(batch, START_TOKEN, np.int32)
        one_hot = not softmax_feed
        x = self.one_hots[token] if one_hot else np.zeros((batch, self.problem.n_classes), np.float32)
        for step in range(steps):
            probs, h, c, attention = self._step(kernel[token] if one_hot else x @ kernel, h, c)
            token = (np.full(batch, forced[step], np.int32) if step in forced
                     else probs.argmax(axis=-1).astype(np.int32))
            for name, value in zip(columns, (x, probs, token, h, c[:, :width], attention)):
                columns[name].append(value)
            # A forced token is fed back as a one-hot in both modes: it is a choice, not a distribution.
            one_hot = not softmax_feed or step in forced
            x = self.one_hots[token] if one_hot else probs
        return {**context, **{name: np.stack(values, axis=1) for name, values in columns.items()}}

    def decode(self, source, feed: str = "argmax", forced: dict[int, int] | None = None) -> decoding.Trace:
        """s2s.decode.decode on this model: one source (L,) or a batch (B, L), checked there, as a Trace."""
        return decoding.decode(self, source, feed, forced)


def read_weights(path: Path, problem: ProblemConfig, config: ModelConfig) -> list[np.ndarray]:
    """The weight arrays of a model.keras file, in get_weights() order, read with h5py from the zip's
    model.weights.h5 (Keras keeps each layer's arrays under a group whose `vars` names the layer; LSTM arrays sit
    in its `cell`). ModelFileError naming the file when one is missing or not finite."""
    import h5py  # only when a file is read: the Keras dependency that reads its weights file, no TensorFlow

    limit = store.KERAS_MEMBERS["model.weights.h5"]
    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
            data = member.read(limit + 1)  # at most its limit, whatever the zip's header claims
        if len(data) > limit:
            raise store.ModelFileError(f"{path}: model.weights.h5 expands past its limit; refused.")
        with h5py.File(io.BytesIO(data), "r") as weights_file:
            groups = {str(group["vars"].attrs.get("name", "")): group for group in weights_file["layers"].values()}
            arrays = []
            for layer, part, shape in weight_layout(problem, config):
                parts = LSTM_PARTS if "_lstm" in layer else DENSE_PARTS
                holder = groups[layer]["cell"] if "_lstm" in layer else groups[layer]
                arrays.append(np.asarray(holder["vars"][str(parts.index(part))], np.float32))
    except store.ModelFileError:
        raise
    except (KeyError, OSError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise store.ModelFileError(f"{path}: its weights cannot be read for the model its card describes "
                                   f"({str(error)[:200] or type(error).__name__}).") from None
    for (layer, part, shape), array in zip(weight_layout(problem, config), arrays):
        if array.shape != shape or not np.isfinite(array).all():
            raise store.ModelFileError(f"{path}: the weights of {layer}/{part} are not {shape} finite numbers.")
    return arrays


def load(directory: str | Path) -> store.LoadedModel:
    """A model folder as store.load reads it (card checked, model file inspected as data and matched with the
    card), its model a NumpySeq2Seq: no TensorFlow imported."""
    directory = Path(directory)
    if directory.is_symlink() or not directory.is_dir():
        raise store.ModelFileError(f"{directory}: no such model folder (or a symbolic link).")
    card = store.read_card(directory)
    path = directory / store.MODEL_FILE
    declared = store.inspect_model_file(path)
    problem, config = ProblemConfig(**card["problem"]), ModelConfig(**card["model"])
    expected = {"n_in": problem.n_in, "n_out": problem.n_out, "n_classes": problem.n_classes, "units": config.units,
                "layers": config.layers, "attention": config.attention}
    if declared != expected:
        raise store.ModelFileError(f"{directory}: the card does not match the weights (card: {expected}; model "
                                   f"file: {declared}).")
    model = NumpySeq2Seq(problem, config, read_weights(path, problem, config))
    return store.LoadedModel(directory.name, directory, model, card)
