"""deepdream.weights: the shipped file, refusals of damaged files, Keras h5 conversion, fetching."""

import hashlib
import http.server
import json
import struct
import threading
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import deepdream
import tf_reference
from deepdream import weights
from deepdream.weights import CONV_LAYERS, KERAS_ORDER, WeightsError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "weights" / "inception-2015-12-05"
ABSENT = ("conv2d_82", "conv2d_91")
SPEC = {spec.name: spec for spec in CONV_LAYERS}
MIXED = [f"mixed{i}" for i in range(11)]


def test_shipped_file_has_92_layers_with_table_shapes():
    layers = weights.load()
    assert list(layers) == [spec.name for spec in CONV_LAYERS if spec.name not in ABSENT]
    for name, (kernel, bias) in layers.items():
        assert kernel.shape == SPEC[name].kernel_shape and bias.shape == (SPEC[name].cout,)
        for array in (kernel, bias):
            assert array.dtype == np.float32 and array.flags.c_contiguous
            assert np.isfinite(array).all()


@pytest.mark.parametrize("name", ["conv2d_1", "conv2d_33", "conv2d_80", "conv2d_94"])
def test_shipped_values_are_the_raw_files_bit_exact(name):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    spec = SPEC[name]
    kernel, bias = weights.load()[name]
    ohwi = np.fromfile(SHARED / f"weights_{spec.stem}.dat", "<f4").reshape(spec.cout, spec.kh, spec.kw, spec.cin)
    assert kernel.tobytes() == np.ascontiguousarray(ohwi.transpose(1, 2, 3, 0)).tobytes()
    assert kernel[spec.kh - 1, 0, 1, 2] == ohwi[2, spec.kh - 1, 0, 1]
    assert bias.tobytes() == (SHARED / f"bias_{spec.stem}.dat").read_bytes()


def _small_layers():
    rng = np.random.default_rng(0)
    return {name: (rng.standard_normal(SPEC[name].kernel_shape, np.float32),
                   rng.standard_normal(SPEC[name].cout, np.float32))
            for name in ("conv2d_4", "conv2d_1")}


def test_save_load_round_trip_is_bit_exact_in_table_order(tmp_path):
    layers = _small_layers()
    loaded = weights.load(weights.save(layers, tmp_path / "small.ddw", source="test"))
    assert list(loaded) == ["conv2d_1", "conv2d_4"]
    for name, (kernel, bias) in loaded.items():
        assert kernel.tobytes() == layers[name][0].tobytes() and bias.tobytes() == layers[name][1].tobytes()
        assert kernel.flags.c_contiguous and kernel.dtype == np.float32
    assert [p.name for p in tmp_path.iterdir()] == ["small.ddw"]


@pytest.mark.parametrize("name, kernel_shape, bias_shape", [
    ("conv2d_1", (3, 3, 3, 31), (31,)),
    ("conv2d_1", (3, 3, 3, 32), (31,)),
    ("conv2d_95", (1, 1, 3, 3), (3,)),
])
def test_save_refuses_what_inception_v3_does_not_have(tmp_path, name, kernel_shape, bias_shape):
    with pytest.raises(WeightsError, match=name):
        weights.save({name: (np.zeros(kernel_shape, np.float32), np.zeros(bias_shape, np.float32))},
                     tmp_path / "bad.ddw", source="test")
    assert list(tmp_path.iterdir()) == []


def _with_header(raw: bytes, change) -> bytes:
    """The file with its JSON header edited by change(header), data section kept."""
    (length,) = struct.unpack_from("<I", raw, 12)
    header = json.loads(raw[16:16 + length])
    change(header)
    data = raw[-(-(16 + length) // 64) * 64:]
    new = json.dumps(header).encode()
    prefix = raw[:12] + struct.pack("<I", len(new)) + new
    return prefix + bytes(-len(prefix) % 64) + data


def _set_first_layer(key, value):
    def change(header):
        header["layers"][0][key] = value
    return change


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-100], r"truncated: file is \d+ bytes, its header says \d+"),
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 0x01]), "checksum mismatch, the file is corrupted"),
    (lambda raw: b"PK\x03\x04xxxx" + raw[8:], r"not a deepdream weights file \(starts with b'PK"),
    (lambda raw: raw[:8] + struct.pack("<I", 99) + raw[12:], "format version 99 is not supported; .* version 1"),
    (lambda raw: raw[:16] + b"#" + raw[17:], "bad JSON header"),
    (lambda raw: _with_header(raw, _set_first_layer("kernel_shape", [3, 3, 3, 16])),
     r"conv2d_1 has kernel shape \(3, 3, 3, 16\); InceptionV3 needs \(3, 3, 3, 32\)"),
    (lambda raw: _with_header(raw, _set_first_layer("name", "dense_1")), "unknown layer 'dense_1'"),
    (lambda raw: _with_header(raw, _set_first_layer("bias_offset", 10**9)), "not a 64-aligned range"),
], ids=["truncated", "flipped-byte", "wrong-magic", "version-99", "bad-json", "wrong-shape",
        "unknown-layer", "offset-outside"])
def test_load_refuses_damaged_files_naming_them(tmp_path, damage, message):
    good = weights.save(_small_layers(), tmp_path / "good.ddw", source="test")
    bad = tmp_path / "bad.ddw"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(WeightsError, match=message) as error:
        weights.load(bad)
    assert str(bad) in str(error.value)


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found") as error:
        weights.load(tmp_path / "nowhere.ddw")
    assert str(tmp_path / "nowhere.ddw") in str(error.value)


# Keras h5 conversion ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_model():
    """Keras InceptionV3 with random weights and non-trivial batch-norm statistics."""
    model = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(None, None, 3))
    rng = np.random.default_rng(1)
    for _, norm in tf_reference.conv_bn_layers(model):
        channels = norm.beta.shape[0]
        norm.beta.assign(rng.normal(0.0, 0.2, channels).astype(np.float32))
        norm.moving_mean.assign(rng.normal(0.0, 0.3, channels).astype(np.float32))
        norm.moving_variance.assign(rng.uniform(0.3, 2.0, channels).astype(np.float32))
    return model


def test_keras_lists_convolutions_in_keras_order(keras_model):
    table_index = {conv.name: i + 1 for i, (conv, _) in enumerate(tf_reference.conv_bn_layers(keras_model))}
    in_model_order = [table_index[l.name] for l in keras_model.layers if isinstance(l, keras.layers.Conv2D)]
    assert tuple(in_model_order) == KERAS_ORDER


def _save_legacy_weights(model, path):
    # The layout of Keras' official files: layer_names at the top level.
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


KERAS_WRITERS = {
    "model.weights.h5": lambda model, path: model.save_weights(path),
    "model.h5": lambda model, path: model.save(path),
    "legacy_weights.h5": _save_legacy_weights,
}


@pytest.mark.parametrize("file_name", KERAS_WRITERS)
def test_convert_keras_h5_folds_batch_norm(keras_model, tmp_path, file_name):
    h5 = tmp_path / file_name
    KERAS_WRITERS[file_name](keras_model, h5)
    converted = weights.load(weights.convert_keras_h5(h5, tmp_path / "converted.ddw"))
    assert list(converted) == [spec.name for spec in CONV_LAYERS]
    for spec, (conv, norm) in zip(CONV_LAYERS, tf_reference.conv_bn_layers(keras_model)):
        scale = 1 / np.sqrt(norm.moving_variance.numpy() + np.float32(1e-3))
        kernel, bias = converted[spec.name]
        np.testing.assert_allclose(kernel, conv.kernel.numpy() * scale, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(bias, norm.beta.numpy() - scale * norm.moving_mean.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parity
def test_folded_model_computes_what_keras_computes(keras_model, tmp_path):
    # The converted file, run by Keras and by deepdream's C InceptionV3, gives the numbers of the
    # original Keras model with its batch norm unfolded: all 11 mixed layers.
    h5 = tmp_path / "model.weights.h5"
    keras_model.save_weights(h5)
    converted = weights.load(weights.convert_keras_h5(h5, tmp_path / "k.ddw"))
    folded = tf_reference.keras_inception_v3(converted)
    assert folded.missing_layers == ()
    x = np.random.default_rng(2).uniform(-1, 1, (96, 96, 3)).astype(np.float32)
    expected = tf_reference.activations(keras_model, x, MIXED)
    found = tf_reference.activations(folded, x, MIXED)
    ours = deepdream.InceptionV3(converted).activations(x, MIXED)
    for name in MIXED:
        assert np.abs(expected[name]).max() > 0
        for result in (found[name], ours[name]):
            np.testing.assert_allclose(result, expected[name], rtol=1e-4,
                                       atol=1e-4 * np.abs(expected[name]).max(), err_msg=name)


def _write_official_like_h5(path: Path, order=KERAS_ORDER) -> None:
    """A small (gzip, constant values) file in the layout of Keras' official notop h5.

    Keras 2 names (conv2d_1 .. conv2d_94, "/kernel:0"), byte-string attributes, layers listed in
    Keras' model order. Kernel of conv2d_n = n / 100; beta 0.75, moving mean 0.25, moving
    variance 1 - 1e-3, so the folded bias is 0.5.
    """
    with h5py.File(path, "w") as f:
        names = [b"input_1"]
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for number in order:
            spec = CONV_LAYERS[number - 1]
            conv, norm = f"conv2d_{number}", f"batch_normalization_{number}"
            kernel_name = f"{conv}/kernel:0"
            f.create_group(conv).attrs["weight_names"] = [kernel_name.encode()]
            f[conv].create_dataset(kernel_name, data=np.full(spec.kernel_shape, number / 100, np.float32),
                                   compression="gzip")
            norm_names = [f"{norm}/{w}:0" for w in ("beta", "moving_mean", "moving_variance")]
            f.create_group(norm).attrs["weight_names"] = [n.encode() for n in norm_names]
            for weight_name, value in zip(norm_names, (0.75, 0.25, 1 - 1e-3)):
                f[norm].create_dataset(weight_name, data=np.full(spec.cout, value, np.float32))
            names += [conv.encode(), norm.encode()]
        f.attrs["layer_names"] = names
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"


@pytest.fixture(scope="module")
def official_like_h5(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("h5") / "inception_v3_notop.h5"
    _write_official_like_h5(path)
    return path


def test_convert_reads_the_official_layout(official_like_h5, tmp_path):
    converted = weights.load(weights.convert_keras_h5(official_like_h5, tmp_path / "k.ddw"))
    assert len(converted) == 94
    for number, spec in enumerate(CONV_LAYERS, start=1):
        kernel, bias = converted[spec.name]
        np.testing.assert_allclose(kernel, number / 100, rtol=1e-6)
        np.testing.assert_allclose(bias, 0.5, rtol=1e-6)


def test_convert_refuses_other_models(tmp_path):
    small = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, use_bias=False),
                              keras.layers.BatchNormalization(scale=False)])
    small.save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(WeightsError, match="found 1 bias-free convolutions and 1 batch normalisations"):
        weights.convert_keras_h5(tmp_path / "small.weights.h5", tmp_path / "out.ddw")

    # Layers listed in table (creation) order instead of Keras' order: the shapes give it away.
    _write_official_like_h5(tmp_path / "creation_order.h5", order=range(1, 95))
    message = r"convolution 8 in file order, conv2d_8, has kernel shape \(5, 5, 48, 64\).* is conv2d_10"
    with pytest.raises(WeightsError, match=message) as error:
        weights.convert_keras_h5(tmp_path / "creation_order.h5", tmp_path / "out.ddw")
    assert str(tmp_path / "creation_order.h5") in str(error.value)

    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(WeightsError, match="cannot read as an HDF5 file"):
        weights.convert_keras_h5(tmp_path / "text.h5", tmp_path / "out.ddw")
    assert not (tmp_path / "out.ddw").exists()


# Fetching, from a local server only --------------------------------------------------------------

@pytest.fixture
def server(tmp_path, monkeypatch):
    """(folder served, its URL, list of request paths) of an HTTP server on 127.0.0.1."""
    monkeypatch.setenv("no_proxy", "*")
    folder, requests = tmp_path / "www", []
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{httpd.server_port}", requests
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_converts_and_then_uses_the_cache(server, official_like_h5, tmp_path, monkeypatch):
    folder, url, requests = server
    (folder / "notop.h5").write_bytes(official_like_h5.read_bytes())
    md5 = hashlib.md5(official_like_h5.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    monkeypatch.setenv("DEEPDREAM_CACHE", str(cache))

    path = weights.fetch_keras_weights(url=f"{url}/notop.h5", expected_hash=md5, progress=False)
    assert path == cache / "notop.ddw"
    assert len(weights.load(path)) == 94
    assert requests == ["/notop.h5"]
    assert sorted(p.name for p in cache.iterdir()) == ["notop.ddw", "notop.h5"]

    assert weights.fetch_keras_weights(url=f"{url}/notop.h5", expected_hash=md5, progress=False) == path
    assert requests == ["/notop.h5"]


def test_fetch_refuses_and_deletes_a_download_with_the_wrong_hash(server, official_like_h5, tmp_path):
    folder, url, requests = server
    (folder / "notop.h5").write_bytes(official_like_h5.read_bytes()[:-1000])
    sha256 = hashlib.sha256(official_like_h5.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match=f"has sha256 [0-9a-f]{{64}}, expected {sha256}; the download was deleted"):
        weights.fetch_keras_weights(cache_dir=cache, url=f"{url}/notop.h5", expected_hash=sha256, progress=False)
    assert requests == ["/notop.h5"]
    assert list(cache.iterdir()) == []


def test_fetch_needs_a_hash_for_a_custom_url(tmp_path):
    with pytest.raises(ValueError, match="expected_hash"):
        weights.fetch_keras_weights(cache_dir=tmp_path, url="http://127.0.0.1:9/x.h5")
