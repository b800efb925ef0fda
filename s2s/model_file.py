"""A `model.keras` file read as data, never as code: `inspect_model_file` checks the zip (its members and their
sizes, no links) and the config (only the layer classes this app builds) and returns the shapes it declares.
A file that cannot be used raises ModelFileError naming it and what is wrong."""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path


class ModelFileError(ValueError):
    """A model folder that cannot be used, with the file and the reason in the message."""


def _is_number(value, integer: bool = False) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)


# A .keras file is a zip of these three files; each may expand to at most this many bytes.
KERAS_MEMBERS = {"config.json": 1 << 20, "metadata.json": 1 << 16, "model.weights.h5": 256 << 20}
# The only classes a Seq2Seq Studio model's config names. Anything else (a Lambda layer's code, a custom
# object, a module outside Keras) is refused before Keras sees the file.
KERAS_CLASSES = frozenset({
    "Functional", "InputLayer", "CategoryEncoding", "Reshape", "LSTM", "Dense", "DTypePolicy", "GlorotUniform",
    "Orthogonal", "Zeros", "__keras_tensor__", "Dot", "Softmax", "Concatenate",
})


def _is_symlink_member(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def inspect_model_file(path: Path) -> dict:
    """Read a .keras file as data, never as code: a zip holding only Keras's three files within their sizes,
    whose config names only the layer classes this app builds. Returns the shapes the config declares
    (n_in, n_out, n_classes, units). Raises ModelFileError naming what is wrong."""
    if path.is_symlink():
        raise ModelFileError(f"{path}: is a symbolic link; a model file must be a plain file.")
    if not path.is_file():
        raise ModelFileError(f"{path}: missing model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras model file (a .keras file is a zip archive; this one is not).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = [info.filename for info in members]
            unexpected = sorted(set(names) - set(KERAS_MEMBERS))
            if unexpected or len(names) != len(set(names)):
                raise ModelFileError(f"{path}: unexpected member {(unexpected or names)[0]!r} (a Keras model file "
                                     f"holds {', '.join(KERAS_MEMBERS)}).")
            for info in members:
                if _is_symlink_member(info):
                    raise ModelFileError(f"{path}: member {info.filename!r} is a symbolic link; refused.")
                if info.file_size > KERAS_MEMBERS[info.filename]:
                    raise ModelFileError(f"{path}: member {info.filename!r} expands to {info.file_size:,} bytes, "
                                         f"over its limit of {KERAS_MEMBERS[info.filename]:,}; refused.")
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ModelFileError(f"{path}: not a Keras model file (no config.json or model.weights.h5 inside).")
            with archive.open("config.json") as f:  # read at most its limit, whatever its header claims
                raw = f.read(KERAS_MEMBERS["config.json"] + 1)
            if len(raw) > KERAS_MEMBERS["config.json"]:
                raise ModelFileError(f"{path}: config.json expands past its limit; refused.")
            config = json.loads(raw)
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError, RuntimeError,
            NotImplementedError, zlib.error) as error:
        raise ModelFileError(f"{path}: damaged Keras model file ({error}).") from None
    classes = set()  # the training settings (compile_config) are never read back, so only the network counts
    try:
        _collect_classes({k: v for k, v in config.items() if k != "compile_config"} if isinstance(config, dict)
                         else config, classes)
    except RecursionError:
        raise ModelFileError(f"{path}: its config is nested too deeply to be a model.") from None
    foreign = sorted(classes - KERAS_CLASSES)
    if foreign:
        what = "a Lambda layer, which carries code" if "Lambda" in foreign else f"class {foreign[0]!r}"
        raise ModelFileError(f"{path}: its config names {what}; only the layers this app builds are accepted.")
    try:
        layers = {layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]}
        declared = {"n_in": layers["source"]["batch_shape"][1], "n_out": layers["decoder_input"]["batch_shape"][1],
                    "n_classes": layers["decoder_dense"]["units"], "units": layers["encoder_lstm"]["units"],
                    "layers": sum(1 for name in layers if name == "encoder_lstm" or name.startswith("encoder_lstm_")),
                    "attention": "attention_combine" in layers}
        if not all(_is_number(declared[k], True) for k in ("n_in", "n_out", "n_classes", "units")):
            raise TypeError("shapes that are not whole numbers")
        return declared
    except (KeyError, TypeError, IndexError, AttributeError):
        raise ModelFileError(f"{path}: not a Seq2Seq Studio model (its config lacks the encoder-decoder's "
                             "layers).") from None


def _collect_classes(node, classes: set) -> None:
    if isinstance(node, dict):
        if "class_name" in node:
            classes.add(str(node["class_name"]))
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] != "keras":
            classes.add(f"{module}.{node.get('class_name')}")
        for value in node.values():
            _collect_classes(value, classes)
    elif isinstance(node, list):
        for value in node:
            _collect_classes(value, classes)
