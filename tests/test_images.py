"""deepdream/images.py: loading (paths, URLs, file objects, every pixel mode), saving, showing,
and the built-in image."""
import functools
import http.server
import io
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import deepdream
from deepdream import images

RNG = np.random.default_rng(0)
PHOTO = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)   # H=30, W=40


def write(tmp_path: Path, name: str, im: Image.Image, **options) -> Path:
    path = tmp_path / name
    im.save(path, **options)
    return path


# --- pixel modes ----------------------------------------------------------------------------------

def test_rgb_png_loads_exactly(tmp_path):
    out = deepdream.load_image(write(tmp_path, "a.png", Image.fromarray(PHOTO)))
    assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, PHOTO)


def test_str_and_pathlike_sources_agree(tmp_path):
    path = write(tmp_path, "a.png", Image.fromarray(PHOTO))
    np.testing.assert_array_equal(deepdream.load_image(str(path)), deepdream.load_image(path))


def test_grey_becomes_three_equal_channels(tmp_path):
    grey = PHOTO[:, :, 0]
    out = deepdream.load_image(write(tmp_path, "g.png", Image.fromarray(grey, "L")))
    assert out.shape == (30, 40, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_palette_image_uses_its_palette_colours(tmp_path):
    im = Image.new("P", (4, 2))
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * (254 * 3))
    im.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    out = deepdream.load_image(write(tmp_path, "p.png", im))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [0, 255, 0]


def test_rgba_drops_alpha(tmp_path):
    rgba = np.dstack([PHOTO, np.full((30, 40), 7, np.uint8)])
    out = deepdream.load_image(write(tmp_path, "a.png", Image.fromarray(rgba, "RGBA")))
    np.testing.assert_array_equal(out, PHOTO)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535], [128, 40000, 65279, 1000]], np.uint16)
    path = write(tmp_path, "i16.png", Image.fromarray(values))
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    out = deepdream.load_image(path)
    expected = np.rint(values / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out[:, :, 0], expected)
    assert out[0, 3, 0] == 255 and out[1, 1, 0] == 156   # clipping would give 255 for both


def test_32_bit_integer_mode_I_is_read_as_16_bit(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 70000]], np.int32)
    path = write(tmp_path, "i.tif", Image.fromarray(values, "I"))
    with Image.open(path) as im:
        assert im.mode == "I"
    out = deepdream.load_image(path)
    assert out[0, :, 1].tolist() == [0, 100, 255, 255]


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((2, 3, 4), np.uint8)
    cmyk[0, 1] = (0, 255, 255, 0)      # red
    cmyk[0, 2] = (0, 0, 0, 255)        # black
    path = write(tmp_path, "c.tif", Image.fromarray(cmyk, "CMYK"))
    out = deepdream.load_image(path)
    assert out.shape == (2, 3, 3)
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]
    assert out[0, 2].tolist() == [0, 0, 0]


def exif_rotated_jpeg(tmp_path: Path) -> Path:
    """Stored 40 wide x 20 high, left half red and right half blue, with EXIF orientation 6
    ("rotate 90 degrees clockwise to display"): shown 20 wide x 40 high, red on top."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return write(tmp_path, "rot.jpg", Image.fromarray(stored), exif=exif, quality=95)


def test_exif_orientation_is_applied(tmp_path):
    out = deepdream.load_image(exif_rotated_jpeg(tmp_path)).astype(int)
    assert out.shape == (40, 20, 3)
    top, bottom = out[:15].mean(axis=(0, 1)), out[-15:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, top
    assert bottom[2] > 200 and bottom[0] < 50, bottom


def test_exif_orientation_is_applied_with_max_dim(tmp_path):
    out = deepdream.load_image(exif_rotated_jpeg(tmp_path), max_dim=10).astype(int)
    assert out.shape == (10, 5, 3)
    assert out[0].mean(axis=0)[0] > 150 and out[-1].mean(axis=0)[2] > 150


# --- max_dim --------------------------------------------------------------------------------------

def test_max_dim_shrinks_like_the_tutorial_thumbnail(tmp_path):
    big = RNG.integers(0, 256, (300, 450, 3), dtype=np.uint8)
    path = write(tmp_path, "big.jpg", Image.fromarray(big))
    with Image.open(path) as tutorial:
        tutorial.thumbnail((200, 200))
        expected = np.array(tutorial)
    out = deepdream.load_image(path, max_dim=200)
    assert out.shape == (133, 200, 3)
    np.testing.assert_array_equal(out, expected)


def test_max_dim_keeps_aspect_for_non_rgb_modes(tmp_path):
    values = RNG.integers(0, 65536, (300, 120), dtype=np.uint16)
    out = deepdream.load_image(write(tmp_path, "tall.png", Image.fromarray(values)), max_dim=100)
    assert out.shape == (100, 40, 3)


def test_max_dim_never_enlarges(tmp_path):
    out = deepdream.load_image(write(tmp_path, "a.png", Image.fromarray(PHOTO)), max_dim=1000)
    np.testing.assert_array_equal(out, PHOTO)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                        ("500", TypeError), (True, TypeError)])
def test_bad_max_dim_is_refused(tmp_path, bad, error):
    path = write(tmp_path, "a.png", Image.fromarray(PHOTO))
    with pytest.raises(error, match="max_dim"):
        deepdream.load_image(path, max_dim=bad)


# --- file objects ---------------------------------------------------------------------------------

def test_binary_file_objects(tmp_path):
    path = write(tmp_path, "a.png", Image.fromarray(PHOTO))
    with open(path, "rb") as f:
        np.testing.assert_array_equal(deepdream.load_image(f), PHOTO)
    out = deepdream.load_image(io.BytesIO(path.read_bytes()), max_dim=20)
    assert out.shape == (15, 20, 3)


def test_file_object_that_is_not_an_image():
    with pytest.raises(ValueError, match="is not an image Pillow can read"):
        deepdream.load_image(io.BytesIO(b"hello, not a picture"))


# --- errors ---------------------------------------------------------------------------------------

def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nowhere.jpg"
    with pytest.raises(FileNotFoundError, match="nowhere.jpg") as info:
        deepdream.load_image(missing)
    assert info.value.filename == str(missing)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("just words")
    with pytest.raises(ValueError, match=r"notes\.jpg is not an image Pillow can read"):
        deepdream.load_image(path)


def test_truncated_png_is_not_an_image(tmp_path):
    whole = (write(tmp_path, "a.png", Image.fromarray(PHOTO))).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="is not an image Pillow can read"):
        deepdream.load_image(cut)


def test_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="directory"):
        deepdream.load_image(tmp_path)


def test_wrong_source_type():
    with pytest.raises(TypeError, match="path, an http"):
        deepdream.load_image(12345)


# --- URLs, served by a local server on 127.0.0.1 (never the internet) ----------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """(folder, base URL) of an http.server in a thread serving tmp_path."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_url_loads_like_the_file(served):
    folder, base = served
    write(folder, "photo.jpg", Image.fromarray(np.repeat(np.repeat(PHOTO, 8, 0), 8, 1)))
    out = deepdream.load_image(f"{base}/photo.jpg", max_dim=100)
    np.testing.assert_array_equal(out, deepdream.load_image(folder / "photo.jpg", max_dim=100))
    assert out.shape == (75, 100, 3)


def test_url_not_found_says_so(served):
    _, base = served
    with pytest.raises(OSError, match=r"cannot download .*missing\.png: HTTP 404"):
        deepdream.load_image(f"{base}/missing.png")


def test_url_that_is_not_an_image(served):
    folder, base = served
    (folder / "page.html").write_text("<html>hello</html>")
    with pytest.raises(ValueError, match=r"page\.html is not an image Pillow can read"):
        deepdream.load_image(f"{base}/page.html")


def test_url_with_nothing_listening():
    with socket.socket() as s:          # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError, match=f"cannot download http://127.0.0.1:{port}/x.png"):
        deepdream.load_image(f"http://127.0.0.1:{port}/x.png")


def test_url_timeout_is_honoured():
    with socket.socket() as silent:      # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.png"
        with pytest.raises(OSError, match="no answer within 0.5 s|timed out"):
            deepdream.load_image(url, timeout=0.5)


# --- save_image -----------------------------------------------------------------------------------

def test_save_png_round_trip(tmp_path):
    path = deepdream.save_image(PHOTO, tmp_path / "out.png")
    with Image.open(path) as im:
        assert im.format == "PNG"
    np.testing.assert_array_equal(deepdream.load_image(path), PHOTO)


@pytest.mark.parametrize("name, fmt", [("out.jpg", "JPEG"), ("out.JPEG", "JPEG"), ("out.webp", "WEBP"),
                                       ("out.bmp", "BMP"), ("out.tif", "TIFF")])
def test_save_format_follows_the_extension(tmp_path, name, fmt):
    smooth = np.repeat(np.repeat(PHOTO[:3, :4], 10, 0), 10, 1)
    path = deepdream.save_image(smooth, str(tmp_path / name))
    with Image.open(path) as im:
        assert im.format == fmt and im.size == (40, 30)
    diff = np.abs(deepdream.load_image(path).astype(int) - smooth).mean()
    assert diff < 8


def test_save_accepts_grey_and_pil_images(tmp_path):
    grey = PHOTO[:, :, 1]
    deepdream.save_image(grey, tmp_path / "g.png")
    np.testing.assert_array_equal(deepdream.load_image(tmp_path / "g.png")[:, :, 2], grey)
    deepdream.save_image(Image.fromarray(PHOTO), tmp_path / "p.png")
    np.testing.assert_array_equal(deepdream.load_image(tmp_path / "p.png"), PHOTO)


def test_save_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"unknown image extension '\.xyz'"):
        deepdream.save_image(PHOTO, tmp_path / "out.xyz")
    with pytest.raises(ValueError, match="unknown image extension"):
        deepdream.save_image(PHOTO, tmp_path / "no_extension")
    assert list(tmp_path.iterdir()) == []


def test_save_unwritable_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot write image") as info:
        deepdream.save_image(PHOTO, tmp_path / "no" / "such" / "folder.png")
    assert "folder.png" in str(info.value)
    folder = tmp_path / "a.png"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="cannot write image"):
        deepdream.save_image(PHOTO, folder)


def test_save_refuses_float_images(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        deepdream.save_image(PHOTO.astype(np.float32), tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


# --- show, default_image --------------------------------------------------------------------------

def test_show_outside_a_notebook_returns_a_pil_image():
    shown = deepdream.show(PHOTO)
    assert isinstance(shown, Image.Image) and shown.size == (40, 30)
    np.testing.assert_array_equal(np.asarray(shown), PHOTO)


def test_default_image_is_the_tutorial_working_size():
    img = deepdream.default_image()
    assert img.dtype == np.uint8 and img.shape == (333, 500, 3)
    assert img.std() > 20                           # a photo, not a blank
    assert deepdream.default_image(None).shape == (400, 600, 3)
    assert deepdream.default_image(max_dim=300).shape == (200, 300, 3)


def test_default_image_ships_with_its_attribution():
    folder = images.DEFAULT_IMAGE.parent
    licences = (folder / "LICENSES.md").read_text()
    assert images.DEFAULT_IMAGE.name in licences and "CC0" in licences
    assert images.DEFAULT_IMAGE.stat().st_size < 600_000
