"""Photos in and out: loading (files, URLs, file objects), saving, showing, the built-in image,
and the conversions between uint8 photos and the network's [-1, 1] float32 domain."""
from __future__ import annotations

import errno
import io
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["as_rgb_uint8", "default_image", "deprocess", "load_image", "preprocess", "save_image", "show"]

#: The built-in photo (CC0; see data/LICENSES.md beside it).
DEFAULT_IMAGE = Path(__file__).resolve().parent / "data" / "coffee.png"

#: Seconds to wait for a URL's server, and the most bytes read from it.
URL_TIMEOUT = 30.0
URL_MAX_BYTES = 200 * 2**20

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def preprocess(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 in [-1, 1], as Keras' ``preprocess_input`` (mode 'tf').

    >>> preprocess(np.array([[[0, 127, 255]]], np.uint8)).tolist()
    [[[-1.0, -0.003921568393707275, 1.0]]]
    """
    x = np.asarray(img)
    if x.dtype != np.uint8:
        raise TypeError(f"preprocess expects a uint8 image, got dtype {x.dtype}")
    return x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def deprocess(x: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> uint8, as the tutorial: ``uint8(255 * (x + 1) / 2)``, truncating.

    Values are clipped to [-1, 1] first (the tutorial relies on an earlier clip).

    >>> deprocess(np.array([[[-1.0, 0.0, 1.0]]], np.float32)).tolist()
    [[[0, 127, 255]]]
    """
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    return (np.float32(255.0) * (x + np.float32(1.0)) / np.float32(2.0)).astype(np.uint8)


def as_rgb_uint8(img: object, name: str = "img") -> np.ndarray:
    """A photo as a uint8 (H, W, 3) array: PIL images of any mode and uint8 arrays that are
    grey (H, W), (H, W, 1), RGB or RGBA (alpha dropped) are accepted.

    >>> as_rgb_uint8(np.zeros((4, 5), np.uint8)).shape
    (4, 5, 3)
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(img, Image.Image):
        img = np.asarray(img.convert("RGB"))
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name} must be a uint8 numpy array (H, W, 3) or a PIL image, "
                        f"got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8 (0..255), got {img.dtype}; for float images "
                        "in [-1, 1] use deepdream.deprocess first, for 0..255 floats .astype(np.uint8)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {img.shape}")
    return np.ascontiguousarray(img)


def _check_max_dim(max_dim: object) -> int | None:
    if max_dim is None:
        return None
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)):
        raise TypeError(f"max_dim must be a positive integer or None, got {max_dim!r}")
    if max_dim < 1:
        raise ValueError(f"max_dim must be a positive integer or None, got {max_dim!r}")
    return int(max_dim)


def _fetch(url: str, timeout: float) -> bytes:
    """The body of an http(s) URL, or OSError saying what went wrong."""
    request = urllib.request.Request(url, headers={"User-Agent": "deepdream (urllib)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(URL_MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise OSError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise OSError(f"cannot download {url}: {getattr(error.reason, 'strerror', None) or error.reason}") from None
    except TimeoutError:
        raise OSError(f"cannot download {url}: no answer within {timeout:g} s") from None
    except OSError as error:
        raise OSError(f"cannot download {url}: {error.strerror or error}") from None
    if len(data) > URL_MAX_BYTES:
        raise ValueError(f"{url} is larger than {URL_MAX_BYTES // 2**20} MB; download it and pass the file")
    return data


def _to_rgb(im) -> np.ndarray:
    """Any PIL image -> uint8 (H, W, 3). 16-bit grey is scaled by 255/65535 and rounded (not
    clipped at 255); alpha is dropped, as :func:`as_rgb_uint8` does."""
    if im.mode in _SIXTEEN_BIT:
        a = np.asarray(im).astype(np.float64)
        grey = np.rint(np.clip(a, 0, 65535) * (255.0 / 65535.0)).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    return np.asarray(im.convert("RGB"))


def load_image(source: str | os.PathLike | BinaryIO, max_dim: int | None = None, *,
               timeout: float = URL_TIMEOUT) -> np.ndarray:
    """A photo as uint8 (H, W, 3), from a path, an http(s) URL or a binary file object.

    ``max_dim`` shrinks it as the tutorial does (``PIL.Image.thumbnail((max_dim, max_dim))``:
    aspect kept, never enlarged). Any format Pillow reads; grey, palette, RGBA (alpha dropped),
    CMYK and 16-bit images become 8-bit RGB; the EXIF orientation is applied.

    >>> img = load_image("photo.jpg", max_dim=500)
    >>> img = load_image("https://example.org/dog.jpg", max_dim=500)
    >>> with open("photo.png", "rb") as f: img = load_image(f)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    max_dim = _check_max_dim(max_dim)
    if isinstance(source, (str, os.PathLike)):
        name = os.fsdecode(os.fspath(source))
        if name.lower().startswith(("http://", "https://")):
            fp: object = io.BytesIO(_fetch(name, timeout))
        elif not os.path.exists(name):
            raise FileNotFoundError(errno.ENOENT, "no such image file", name)
        elif os.path.isdir(name):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not an image file", name)
        else:
            fp = name
    elif hasattr(source, "read"):
        fp, name = source, str(getattr(source, "name", "the file object"))
    else:
        raise TypeError(f"source must be a path, an http(s) URL or a binary file object, "
                        f"got {type(source).__name__}")
    try:
        with Image.open(fp) as im:
            # RGB and grey shrink first, exactly as the tutorial (JPEGs then decode at reduced size)
            shrunk = max_dim is not None and im.mode in ("RGB", "L")
            if shrunk:
                im.thumbnail((max_dim, max_dim))
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb(im)
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not an image Pillow can read (unknown or unsupported format)") from None
    except Image.DecompressionBombError as error:
        raise ValueError(f"{name} is too large to load safely: {error}") from None
    except (OSError, SyntaxError, EOFError) as error:
        if isinstance(error, (PermissionError, FileNotFoundError)):
            raise
        raise ValueError(f"{name} is not an image Pillow can read ({error})") from None
    if max_dim is not None and not shrunk:
        small = Image.fromarray(arr)
        small.thumbnail((max_dim, max_dim))
        arr = np.asarray(small)
    return np.ascontiguousarray(arr)


def save_image(img: object, path: str | os.PathLike, **options: object) -> Path:
    """Write a photo (uint8 (H, W, 3), or anything :func:`as_rgb_uint8` takes); the file's
    extension picks the format (.png, .jpg, .webp, ...). ``options`` go to ``PIL.Image.save``
    (JPEG and WebP default to quality 95). Returns the path.

    >>> save_image(deepdream.dream(img), "dream.png")
    """
    from PIL import Image

    arr = as_rgb_uint8(img)
    path = Path(os.fspath(path))
    extension = path.suffix.lower()
    fmt = Image.registered_extensions().get(extension)
    if fmt is None or fmt not in Image.SAVE:
        raise ValueError(f"cannot write {path}: unknown image extension {extension or '(none)'!r}; "
                         "use .png, .jpg, .webp, .bmp or .tif")
    if fmt in ("JPEG", "WEBP"):
        options.setdefault("quality", 95)
    try:
        f = open(path, "wb")
    except OSError as error:
        raise type(error)(error.errno, f"cannot write image: {error.strerror}", str(path)) from None
    try:
        with f:
            Image.fromarray(arr).save(f, format=fmt, **options)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(img: object):
    """Show a photo: inline in a Jupyter notebook (returns None); elsewhere returns it as a
    PIL image (no window opens: call ``.show()`` on it for that).

    >>> deepdream.show(deepdream.dream(img))
    """
    from PIL import Image

    pil = Image.fromarray(as_rgb_uint8(img))
    if _in_notebook():
        from IPython.display import display

        display(pil)
        return None
    return pil


def default_image(max_dim: int | None = 500) -> np.ndarray:
    """The built-in photo (a cup of coffee, 400x600, CC0), shrunk to fit ``max_dim`` like the
    tutorial's 500 (333x500); None keeps it whole.

    >>> img = default_image()          # uint8 (333, 500, 3)
    """
    return load_image(DEFAULT_IMAGE, max_dim)
