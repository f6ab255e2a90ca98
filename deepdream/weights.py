"""InceptionV3 weights: the layer table, the deepdream weights file, Keras h5 conversion.

Every convolution of InceptionV3 is stored with its batch normalisation folded in, so a layer
is ``relu(conv(x, kernel) + bias)``. Layers are named like Keras' ``conv2d_1`` .. ``conv2d_94``
(creation order in a fresh Keras 2 session); ``CONV_LAYERS`` describes each one.

    >>> from deepdream import weights
    >>> layers = weights.load()                  # the shipped file
    >>> kernel, bias = layers["conv2d_1"]
    >>> kernel.shape, bias.shape                 # kernel is HWIO (kh, kw, cin, cout)
    ((3, 3, 3, 32), (32,))

File format ("DDWEIGHT", version 1), all integers little-endian:

    offset 0   8 bytes   magic b"DDWEIGHT"
    offset 8   uint32    format version (1)
    offset 12  uint32    header length n in bytes
    offset 16  n bytes   UTF-8 JSON header:
                         {"format_version": 1,
                          "source": "<where the numbers come from>",
                          "data_length": <bytes in the data section>,
                          "data_sha256": "<sha256 hex digest of the whole data section>",
                          "layers": [{"name": "conv2d_1", "kernel_shape": [kh, kw, cin, cout],
                                      "kernel_offset": <int>, "bias_offset": <int>}, ...]}
               zero padding up to the next multiple of 64
    data       data_length bytes: float32 little-endian arrays, each starting at a multiple of 64
               (offsets are relative to the start of the data section); kernels C-ordered
               (kh, kw, cin, cout), biases (cout,).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

MAGIC = b"DDWEIGHT"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FILE_NAME = "inception_v3.ddw"
BN_EPSILON = 1e-3  # Keras InceptionV3's BatchNormalization epsilon
_ALIGN = 64
_FLOAT32_LE = np.dtype("<f4")


class WeightsError(ValueError):
    """A weights file is missing, damaged, or not the weights this package needs."""


class ConvLayer(NamedTuple):
    """One convolution of InceptionV3: Keras name, data file stem, kernel shape, stride, padding."""

    name: str
    stem: str
    kh: int
    kw: int
    cin: int
    cout: int
    stride: int
    padding: str
    block: str

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        return (self.kh, self.kw, self.cin, self.cout)


# Keras layer name, file stem of the TensorFlow 2015-12-05 release, kernel (kh, kw, cin, cout),
# stride, padding, block. Order = Keras creation order = table order everywhere in this package.
CONV_LAYERS: tuple[ConvLayer, ...] = (
    ConvLayer("conv2d_1", "conv", 3, 3, 3, 32, 2, "valid", "stem"),
    ConvLayer("conv2d_2", "conv_1", 3, 3, 32, 32, 1, "valid", "stem"),
    ConvLayer("conv2d_3", "conv_2", 3, 3, 32, 64, 1, "same", "stem"),
    ConvLayer("conv2d_4", "conv_3", 1, 1, 64, 80, 1, "valid", "stem"),
    ConvLayer("conv2d_5", "conv_4", 3, 3, 80, 192, 1, "valid", "stem"),
    ConvLayer("conv2d_6", "mixed_conv", 1, 1, 192, 64, 1, "same", "mixed0"),
    ConvLayer("conv2d_7", "mixed_tower_conv", 1, 1, 192, 48, 1, "same", "mixed0"),
    ConvLayer("conv2d_8", "mixed_tower_conv_1", 5, 5, 48, 64, 1, "same", "mixed0"),
    ConvLayer("conv2d_9", "mixed_tower_1_conv", 1, 1, 192, 64, 1, "same", "mixed0"),
    ConvLayer("conv2d_10", "mixed_tower_1_conv_1", 3, 3, 64, 96, 1, "same", "mixed0"),
    ConvLayer("conv2d_11", "mixed_tower_1_conv_2", 3, 3, 96, 96, 1, "same", "mixed0"),
    ConvLayer("conv2d_12", "mixed_tower_2_conv", 1, 1, 192, 32, 1, "same", "mixed0"),
    ConvLayer("conv2d_13", "mixed_1_conv", 1, 1, 256, 64, 1, "same", "mixed1"),
    ConvLayer("conv2d_14", "mixed_1_tower_conv", 1, 1, 256, 48, 1, "same", "mixed1"),
    ConvLayer("conv2d_15", "mixed_1_tower_conv_1", 5, 5, 48, 64, 1, "same", "mixed1"),
    ConvLayer("conv2d_16", "mixed_1_tower_1_conv", 1, 1, 256, 64, 1, "same", "mixed1"),
    ConvLayer("conv2d_17", "mixed_1_tower_1_conv_1", 3, 3, 64, 96, 1, "same", "mixed1"),
    ConvLayer("conv2d_18", "mixed_1_tower_1_conv_2", 3, 3, 96, 96, 1, "same", "mixed1"),
    ConvLayer("conv2d_19", "mixed_1_tower_2_conv", 1, 1, 256, 64, 1, "same", "mixed1"),
    ConvLayer("conv2d_20", "mixed_2_conv", 1, 1, 288, 64, 1, "same", "mixed2"),
    ConvLayer("conv2d_21", "mixed_2_tower_conv", 1, 1, 288, 48, 1, "same", "mixed2"),
    ConvLayer("conv2d_22", "mixed_2_tower_conv_1", 5, 5, 48, 64, 1, "same", "mixed2"),
    ConvLayer("conv2d_23", "mixed_2_tower_1_conv", 1, 1, 288, 64, 1, "same", "mixed2"),
    ConvLayer("conv2d_24", "mixed_2_tower_1_conv_1", 3, 3, 64, 96, 1, "same", "mixed2"),
    ConvLayer("conv2d_25", "mixed_2_tower_1_conv_2", 3, 3, 96, 96, 1, "same", "mixed2"),
    ConvLayer("conv2d_26", "mixed_2_tower_2_conv", 1, 1, 288, 64, 1, "same", "mixed2"),
    ConvLayer("conv2d_27", "mixed_3_conv", 3, 3, 288, 384, 2, "valid", "mixed3"),
    ConvLayer("conv2d_28", "mixed_3_tower_conv", 1, 1, 288, 64, 1, "same", "mixed3"),
    ConvLayer("conv2d_29", "mixed_3_tower_conv_1", 3, 3, 64, 96, 1, "same", "mixed3"),
    ConvLayer("conv2d_30", "mixed_3_tower_conv_2", 3, 3, 96, 96, 2, "valid", "mixed3"),
    ConvLayer("conv2d_31", "mixed_4_conv", 1, 1, 768, 192, 1, "same", "mixed4"),
    ConvLayer("conv2d_32", "mixed_4_tower_conv", 1, 1, 768, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_33", "mixed_4_tower_conv_1", 1, 7, 128, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_34", "mixed_4_tower_conv_2", 7, 1, 128, 192, 1, "same", "mixed4"),
    ConvLayer("conv2d_35", "mixed_4_tower_1_conv", 1, 1, 768, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_36", "mixed_4_tower_1_conv_1", 7, 1, 128, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_37", "mixed_4_tower_1_conv_2", 1, 7, 128, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_38", "mixed_4_tower_1_conv_3", 7, 1, 128, 128, 1, "same", "mixed4"),
    ConvLayer("conv2d_39", "mixed_4_tower_1_conv_4", 1, 7, 128, 192, 1, "same", "mixed4"),
    ConvLayer("conv2d_40", "mixed_4_tower_2_conv", 1, 1, 768, 192, 1, "same", "mixed4"),
    ConvLayer("conv2d_41", "mixed_5_conv", 1, 1, 768, 192, 1, "same", "mixed5"),
    ConvLayer("conv2d_42", "mixed_5_tower_conv", 1, 1, 768, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_43", "mixed_5_tower_conv_1", 1, 7, 160, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_44", "mixed_5_tower_conv_2", 7, 1, 160, 192, 1, "same", "mixed5"),
    ConvLayer("conv2d_45", "mixed_5_tower_1_conv", 1, 1, 768, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_46", "mixed_5_tower_1_conv_1", 7, 1, 160, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_47", "mixed_5_tower_1_conv_2", 1, 7, 160, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_48", "mixed_5_tower_1_conv_3", 7, 1, 160, 160, 1, "same", "mixed5"),
    ConvLayer("conv2d_49", "mixed_5_tower_1_conv_4", 1, 7, 160, 192, 1, "same", "mixed5"),
    ConvLayer("conv2d_50", "mixed_5_tower_2_conv", 1, 1, 768, 192, 1, "same", "mixed5"),
    ConvLayer("conv2d_51", "mixed_6_conv", 1, 1, 768, 192, 1, "same", "mixed6"),
    ConvLayer("conv2d_52", "mixed_6_tower_conv", 1, 1, 768, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_53", "mixed_6_tower_conv_1", 1, 7, 160, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_54", "mixed_6_tower_conv_2", 7, 1, 160, 192, 1, "same", "mixed6"),
    ConvLayer("conv2d_55", "mixed_6_tower_1_conv", 1, 1, 768, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_56", "mixed_6_tower_1_conv_1", 7, 1, 160, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_57", "mixed_6_tower_1_conv_2", 1, 7, 160, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_58", "mixed_6_tower_1_conv_3", 7, 1, 160, 160, 1, "same", "mixed6"),
    ConvLayer("conv2d_59", "mixed_6_tower_1_conv_4", 1, 7, 160, 192, 1, "same", "mixed6"),
    ConvLayer("conv2d_60", "mixed_6_tower_2_conv", 1, 1, 768, 192, 1, "same", "mixed6"),
    ConvLayer("conv2d_61", "mixed_7_conv", 1, 1, 768, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_62", "mixed_7_tower_conv", 1, 1, 768, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_63", "mixed_7_tower_conv_1", 1, 7, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_64", "mixed_7_tower_conv_2", 7, 1, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_65", "mixed_7_tower_1_conv", 1, 1, 768, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_66", "mixed_7_tower_1_conv_1", 7, 1, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_67", "mixed_7_tower_1_conv_2", 1, 7, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_68", "mixed_7_tower_1_conv_3", 7, 1, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_69", "mixed_7_tower_1_conv_4", 1, 7, 192, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_70", "mixed_7_tower_2_conv", 1, 1, 768, 192, 1, "same", "mixed7"),
    ConvLayer("conv2d_71", "mixed_8_tower_conv", 1, 1, 768, 192, 1, "same", "mixed8"),
    ConvLayer("conv2d_72", "mixed_8_tower_conv_1", 3, 3, 192, 320, 2, "valid", "mixed8"),
    ConvLayer("conv2d_73", "mixed_8_tower_1_conv", 1, 1, 768, 192, 1, "same", "mixed8"),
    ConvLayer("conv2d_74", "mixed_8_tower_1_conv_1", 1, 7, 192, 192, 1, "same", "mixed8"),
    ConvLayer("conv2d_75", "mixed_8_tower_1_conv_2", 7, 1, 192, 192, 1, "same", "mixed8"),
    ConvLayer("conv2d_76", "mixed_8_tower_1_conv_3", 3, 3, 192, 192, 2, "valid", "mixed8"),
    ConvLayer("conv2d_77", "mixed_9_conv", 1, 1, 1280, 320, 1, "same", "mixed9"),
    ConvLayer("conv2d_78", "mixed_9_tower_conv", 1, 1, 1280, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_79", "mixed_9_tower_mixed_conv", 1, 3, 384, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_80", "mixed_9_tower_mixed_conv_1", 3, 1, 384, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_81", "mixed_9_tower_1_conv", 1, 1, 1280, 448, 1, "same", "mixed9"),
    ConvLayer("conv2d_82", "mixed_9_tower_1_conv_1", 3, 3, 448, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_83", "mixed_9_tower_1_mixed_conv", 1, 3, 384, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_84", "mixed_9_tower_1_mixed_conv_1", 3, 1, 384, 384, 1, "same", "mixed9"),
    ConvLayer("conv2d_85", "mixed_9_tower_2_conv", 1, 1, 1280, 192, 1, "same", "mixed9"),
    ConvLayer("conv2d_86", "mixed_10_conv", 1, 1, 2048, 320, 1, "same", "mixed10"),
    ConvLayer("conv2d_87", "mixed_10_tower_conv", 1, 1, 2048, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_88", "mixed_10_tower_mixed_conv", 1, 3, 384, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_89", "mixed_10_tower_mixed_conv_1", 3, 1, 384, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_90", "mixed_10_tower_1_conv", 1, 1, 2048, 448, 1, "same", "mixed10"),
    ConvLayer("conv2d_91", "mixed_10_tower_1_conv_1", 3, 3, 448, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_92", "mixed_10_tower_1_mixed_conv", 1, 3, 384, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_93", "mixed_10_tower_1_mixed_conv_1", 3, 1, 384, 384, 1, "same", "mixed10"),
    ConvLayer("conv2d_94", "mixed_10_tower_2_conv", 1, 1, 2048, 192, 1, "same", "mixed10"),
)
_BY_NAME = {spec.name: spec for spec in CONV_LAYERS}

# Keras lists a functional model's layers (model.layers, and so every h5 file it writes) in a
# topological order that is not the creation order: the k-th Conv2D there is
# conv2d_<KERAS_ORDER[k]> of CONV_LAYERS. Keras loads legacy h5 weights by this order too.
KERAS_ORDER: tuple[int, ...] = (
    1, 2, 3, 4, 5, 9, 7, 10, 6, 8, 11, 12, 16, 14, 17, 13, 15, 18, 19, 23, 21, 24, 20, 22,
    25, 26, 28, 29, 27, 30, 35, 36, 32, 37, 33, 38, 31, 34, 39, 40, 45, 46, 42, 47, 43, 48,
    41, 44, 49, 50, 55, 56, 52, 57, 53, 58, 51, 54, 59, 60, 65, 66, 62, 67, 63, 68, 61, 64,
    69, 70, 73, 74, 71, 75, 72, 76, 81, 78, 82, 79, 80, 83, 84, 77, 85, 90, 87, 91, 88, 89,
    92, 93, 86, 94,
)

# Keras' official InceptionV3 ImageNet files and the md5 digests Keras checks them against
# (keras.applications.inception_v3: WEIGHTS_PATH, WEIGHTS_PATH_NO_TOP, get_file(file_hash=...)).
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
KERAS_WEIGHTS_URL_NO_TOP = _KERAS_BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = _KERAS_BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
KERAS_WEIGHTS_MD5_NO_TOP = "bcbd6486424b2319ff4ef7d526e38f63"
KERAS_WEIGHTS_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"

Layers = dict[str, tuple[np.ndarray, np.ndarray]]


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _spec(where: str, name: str, kernel_shape: tuple[int, ...]) -> ConvLayer:
    """The table entry for a layer, refusing unknown names and wrong kernel shapes."""
    spec = _BY_NAME.get(name)
    if spec is None:
        raise WeightsError(f"{where}: unknown layer {name!r}; InceptionV3 layers are conv2d_1 .. conv2d_94")
    if kernel_shape != spec.kernel_shape:
        raise WeightsError(
            f"{where}: layer {name} has kernel shape {kernel_shape}; InceptionV3 needs {spec.kernel_shape}"
        )
    return spec


def _temporary_name(path: Path) -> Path:
    """Where to write before an atomic rename to path (one per process, so writers never meet)."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def save(layers: Layers, path: str | os.PathLike, source: str) -> Path:
    """Write ``{"conv2d_N": (kernel HWIO, bias)}`` to a deepdream weights file, atomically.

        >>> save({"conv2d_1": (kernel, bias)}, "my.ddw", source="my own training run")

    Arrays are stored as float32; float32 input is kept bit-exact.
    """
    path = Path(path)
    for name, (kernel, bias) in layers.items():
        spec = _spec(str(path), name, np.shape(kernel))
        if np.shape(bias) != (spec.cout,):
            raise WeightsError(
                f"{path}: layer {name} has bias shape {np.shape(bias)}; InceptionV3 needs {(spec.cout,)}"
            )
    entries, arrays, offset = [], [], 0
    for spec in CONV_LAYERS:  # table order, whatever the dict order
        if spec.name in layers:
            kernel, bias = (np.ascontiguousarray(a, dtype=_FLOAT32_LE) for a in layers[spec.name])
            kernel_offset = offset
            bias_offset = _aligned(kernel_offset + kernel.nbytes)
            offset = _aligned(bias_offset + bias.nbytes)
            entries.append({"name": spec.name, "kernel_shape": list(kernel.shape),
                            "kernel_offset": kernel_offset, "bias_offset": bias_offset})
            arrays += [(kernel_offset, kernel), (bias_offset, bias)]
    data = bytearray(offset)
    for start, array in arrays:
        data[start:start + array.nbytes] = array.tobytes()
    header = json.dumps({
        "format_version": FORMAT_VERSION,
        "source": source,
        "data_length": len(data),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "layers": entries,
    }).encode("utf-8")
    prefix = MAGIC + struct.pack("<II", FORMAT_VERSION, len(header)) + header
    prefix += bytes(_aligned(len(prefix)) - len(prefix))

    tmp = _temporary_name(path)
    try:
        with open(tmp, "wb") as out:
            out.write(prefix)
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def shipped_path() -> Path:
    """Path of the weights file shipped in the package (``deepdream/data/``, put there by
    setup.py from the repository's ``weights/``), else the source tree's ``weights/``."""
    here = Path(__file__).resolve().parent
    shipped = here / "data" / FILE_NAME
    return shipped if shipped.is_file() else here.parent / "weights" / FILE_NAME


def load(path: str | os.PathLike | None = None) -> Layers:
    """Read a deepdream weights file; ``None`` reads the shipped one.

        >>> layers = load()
        >>> kernel, bias = layers["conv2d_5"]   # (3, 3, 80, 192), (192,) float32

    Returns ``{"conv2d_N": (kernel (kh, kw, cin, cout), bias (cout,))}`` in table order for every
    layer in the file, as read-only float32 C-contiguous views of the file's data. Raises
    WeightsError, saying what is wrong, for a missing, damaged or foreign file.
    """
    path = shipped_path() if path is None else Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    except OSError as error:
        raise WeightsError(f"{path}: cannot read weights file: {error.strerror}") from None

    if raw[:len(MAGIC)] != MAGIC:
        raise WeightsError(f"{path}: not a deepdream weights file (starts with {raw[:8]!r}, expected {MAGIC!r})")
    if len(raw) < 16:
        raise WeightsError(f"{path}: truncated: {len(raw)} bytes, shorter than the 16-byte preamble")
    version, header_length = struct.unpack_from("<II", raw, 8)
    if version not in SUPPORTED_VERSIONS:
        raise WeightsError(
            f"{path}: format version {version} is not supported; this deepdream reads version "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    data_start = _aligned(16 + header_length)
    if len(raw) < data_start:
        raise WeightsError(f"{path}: truncated: {len(raw)} bytes, its header alone needs {data_start}")
    try:
        header = json.loads(raw[16:16 + header_length].decode("utf-8"))
        data_length = int(header["data_length"])
        data_sha256 = str(header["data_sha256"])
        entries = [(str(e["name"]), tuple(int(n) for n in e["kernel_shape"]),
                    int(e["kernel_offset"]), int(e["bias_offset"])) for e in header["layers"]]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError,
            OverflowError, RecursionError) as error:  # e.g. 1e999 as a length, deeply nested JSON
        raise WeightsError(f"{path}: bad JSON header: {type(error).__name__}: {error}") from None

    expected_size = data_start + data_length
    if len(raw) != expected_size:
        problem = "truncated" if len(raw) < expected_size else "trailing bytes"
        raise WeightsError(f"{path}: {problem}: file is {len(raw)} bytes, its header says {expected_size}")
    digest = hashlib.sha256(memoryview(raw)[data_start:]).hexdigest()
    if digest != data_sha256:
        raise WeightsError(
            f"{path}: checksum mismatch, the file is corrupted: data sha256 is {digest}, "
            f"the header says {data_sha256}"
        )

    found: Layers = {}
    for name, kernel_shape, kernel_offset, bias_offset in entries:
        if name in found:
            raise WeightsError(f"{path}: layer {name} appears twice in the header")
        spec = _spec(str(path), name, kernel_shape)
        arrays = []
        for offset, shape in ((kernel_offset, spec.kernel_shape), (bias_offset, (spec.cout,))):
            nbytes = int(np.prod(shape)) * 4
            if offset % _ALIGN or offset < 0 or offset + nbytes > data_length:
                raise WeightsError(
                    f"{path}: layer {name}: offset {offset} + {nbytes} bytes is not a 64-aligned "
                    f"range inside the {data_length}-byte data section"
                )
            arrays.append(np.frombuffer(raw, _FLOAT32_LE, nbytes // 4, data_start + offset).reshape(shape))
        found[name] = (arrays[0], arrays[1])
    return {spec.name: found[spec.name] for spec in CONV_LAYERS if spec.name in found}


def _h5_text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _keras3_order(key: str) -> tuple[str, int]:
    # Keras 3 names the groups of "x.weights.h5" <class>, <class>_1, ... in model.layers order.
    prefix, number = re.fullmatch(r"(.*?)(?:_(\d+))?", key).groups()
    return prefix, int(number or 0)


def _keras_layer_weights(f) -> list[tuple[str, list[np.ndarray]]]:
    """Every layer's weight arrays in the order of Keras' model.layers (see KERAS_ORDER)."""
    if "layers" in f and "layer_names" not in f.attrs:  # Keras 3 model.save_weights("x.weights.h5")
        group = f["layers"]
        return [(key, [group[key]["vars"][v][()] for v in sorted(group[key]["vars"], key=int)])
                for key in sorted(group, key=_keras3_order)]
    # Legacy layout (Keras' official files, tf.keras save_weights("x.h5"), model.save("x.h5")).
    group = f["model_weights"] if "model_weights" in f else f
    return [(name, [group[name][_h5_text(w)][()] for w in group[name].attrs["weight_names"]])
            for name in map(_h5_text, group.attrs["layer_names"])]


def convert_keras_h5(h5_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Fold Keras' InceptionV3 h5 weights (conv + BatchNorm) into a deepdream weights file.

        >>> convert_keras_h5("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "keras.ddw")
        PosixPath('keras.ddw')

    Reads Keras' official files (with or without top; the classifier is ignored) and what Keras 3
    writes with ``model.save_weights("x.weights.h5")`` or the legacy ``model.save("x.h5")``.
    For each conv2d_bn: ``A = 1 / sqrt(moving_variance + 1e-3)``, ``kernel' = kernel * A``,
    ``bias = beta - A * moving_mean``.
    """
    import h5py  # only conversion needs it

    h5_path = Path(h5_path)
    try:
        with h5py.File(h5_path, "r") as f:
            layer_weights = _keras_layer_weights(f)
    except OSError as error:
        raise WeightsError(f"{h5_path}: cannot read as an HDF5 file: {error}") from None
    except KeyError as error:
        raise WeightsError(f"{h5_path}: not a Keras weights file: {error}") from None

    # Conv2D(use_bias=False) holds one 4-d kernel; BatchNormalization(scale=False) holds
    # beta, moving_mean, moving_variance. Keras lists both in the same model order.
    convs = [(name, w[0]) for name, w in layer_weights if len(w) == 1 and w[0].ndim == 4]
    norms = [(name, w) for name, w in layer_weights if len(w) == 3 and all(a.ndim == 1 for a in w)]
    if len(convs) != len(KERAS_ORDER) or len(norms) != len(KERAS_ORDER):
        raise WeightsError(
            f"{h5_path}: not Keras InceptionV3 weights: found {len(convs)} bias-free convolutions and "
            f"{len(norms)} batch normalisations (beta, moving mean, moving variance), expected 94 of each"
        )
    folded = {}
    pairs = zip(convs, norms, KERAS_ORDER)
    for k, ((conv_name, kernel), (norm_name, (beta, mean, variance)), number) in enumerate(pairs, start=1):
        spec = CONV_LAYERS[number - 1]
        if kernel.shape != spec.kernel_shape or {beta.shape, mean.shape, variance.shape} != {(spec.cout,)}:
            raise WeightsError(
                f"{h5_path}: not Keras InceptionV3 weights: convolution {k} in file order, {conv_name}, "
                f"has kernel shape {kernel.shape} and {norm_name} {beta.shape[0]} channels; convolution "
                f"{k} in Keras' order is {spec.name} with kernel shape {spec.kernel_shape}"
            )
        scale = 1.0 / np.sqrt(variance.astype(np.float64) + BN_EPSILON)
        folded[spec.name] = ((kernel * scale).astype(np.float32), (beta - scale * mean).astype(np.float32))
    save(folded, out_path, source=f"Keras InceptionV3 weights {h5_path.name}, batch norm folded (epsilon 1e-3)")
    return Path(out_path)


def _download(url: str, dest: Path, expected_hash: str, progress: bool) -> None:
    """Download url to dest via a temporary file, keeping it only if its hash matches."""
    algorithm = "sha256" if len(expected_hash) == 64 else "md5"  # like keras.utils.get_file
    tmp = _temporary_name(dest)
    try:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with open(tmp, "wb") as out, urllib.request.urlopen(url) as response:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    print(f"\rDownloading {url}: {done / 1e6:.1f} of {total / 1e6:.1f} MB",
                          end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        if digest.hexdigest() != expected_hash.lower():
            raise WeightsError(
                f"{url}: downloaded file has {algorithm} {digest.hexdigest()}, expected "
                f"{expected_hash.lower()}; the download was deleted"
            )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_keras_weights(
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    include_top: bool = False,
    progress: bool = True,
    expected_hash: str | None = None,
) -> Path:
    """Download Keras' official InceptionV3 weights once, convert them, return the converted file.

        >>> path = fetch_keras_weights()    # ~/.cache/deepdream/..._notop.ddw, all 94 layers
        >>> layers = load(path)

    The cache is ``cache_dir``, else $DEEPDREAM_CACHE, else ``~/.cache/deepdream``; a second call
    uses it without the network. The download is checked against ``expected_hash`` (md5 or
    sha256 hex; by default the md5 Keras publishes for its file); a mismatch raises WeightsError
    and the download is deleted. A custom ``url`` needs ``expected_hash``.
    """
    default_url, default_hash = ((KERAS_WEIGHTS_URL, KERAS_WEIGHTS_MD5) if include_top
                                 else (KERAS_WEIGHTS_URL_NO_TOP, KERAS_WEIGHTS_MD5_NO_TOP))
    url = url or default_url
    expected_hash = expected_hash or (default_hash if url == default_url else None)
    if expected_hash is None:
        raise ValueError(f"fetch_keras_weights: pass expected_hash (md5 or sha256) to download {url}")
    cache = Path(cache_dir or os.environ.get("DEEPDREAM_CACHE") or Path.home() / ".cache" / "deepdream")
    h5_file = cache / Path(urllib.parse.urlsplit(url).path).name
    converted = h5_file.with_suffix(".ddw")
    if converted.is_file():
        return converted
    if not h5_file.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        _download(url, h5_file, expected_hash, progress)
    return convert_keras_h5(h5_file, converted)
