"""The ``deepdream`` command: dream a photo (or the built-in one) into an image file.

    deepdream photo.jpg -o dream.png --layers mixed3,mixed5 --octaves -2:3 --seed 0
    deepdream --demo                      # the built-in photo -> dream.png
    python -m deepdream --help

Errors a user can act on print one line on stderr and exit with status 2; Ctrl-C stops with
status 130 and writes nothing.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main"]

PROG = "deepdream"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Something the user can fix: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage + message
        raise UsageError(f"{message} (see {PROG} --help)")


def _checked(convert: Callable[[str], Any], ok: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    """An argparse type: convert the text, then check it; the error says what was wanted."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def _octaves(text: str) -> list[int]:
    """"start:stop" as Python's range(start, stop), or a list "a,b,c", or one integer."""
    try:
        if ":" in text:
            start, stop = text.split(":")
            values = list(range(int(start), int(stop)))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected start:stop (like -2:3, Python's range(-2, 3)) or a list like -1,0,1; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} holds no octave (stop must be greater than start)")
    return values


def _layers(text: str) -> list[str]:
    from .model import LAYER_NAMES

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no layer given; choose from {', '.join(LAYER_NAMES)}")
    for name in names:
        if name not in LAYER_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown layer {name!r}; valid layers are {', '.join(LAYER_NAMES)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a layer is listed twice in {text!r}")
    return names


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="DeepDream a photo with InceptionV3 (the TensorFlow tutorial's "
                "algorithm, computed in C). Without INPUT it dreams the built-in photo.")
    p.add_argument("input", nargs="?", metavar="INPUT",
                   help="a photo: a file path or an http(s) URL (default: the built-in photo)")
    p.add_argument("-o", "--output", default="dream.png", metavar="OUTPUT",
                   help="where to write the dream; the extension picks the format (default: dream.png)")
    p.add_argument("--demo", action="store_true", help="dream the built-in photo (coffee, CC0)")
    p.add_argument("--layers", type=_layers, default=["mixed3", "mixed5"], metavar="L1,L2",
                   help="layers whose mean activation is maximised (default: mixed3,mixed5)")
    p.add_argument("--octaves", type=_octaves, default=list(range(-2, 3)), metavar="START:STOP",
                   help="octave exponents as range(START, STOP), or a list a,b,c (default: -2:3)")
    p.add_argument("--octave-scale", type=_positive_float, default=1.3, metavar="S",
                   help="size ratio between octaves (default: 1.3)")
    p.add_argument("--steps", type=_positive_int, default=100, metavar="N",
                   help="gradient-ascent steps per octave (default: 100)")
    p.add_argument("--step-size", type=_positive_float, default=0.01, metavar="X",
                   help="step size (default: 0.01)")
    p.add_argument("--tile-size", type=_positive_int, default=512, metavar="PX",
                   help="tile side in pixels (default: 512)")
    p.add_argument("--tiles", choices=("cover", "tutorial"), default="cover",
                   help="cover: tiles cover every pixel every step (default); tutorial: the "
                        "tutorial's own tiles")
    p.add_argument("--seed", type=_non_negative_int, default=None, metavar="N",
                   help="seed of the random roll, for a repeatable dream (default: random)")
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="a converted weights file (default: the shipped ones, mixed0..mixed8)")
    p.add_argument("--max-dim", type=_non_negative_int, default=500, metavar="N",
                   help="shrink the photo to fit NxN first, like the tutorial (default: 500; 0 keeps "
                        "its size)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary line")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return p


def _join_negative_values(argv: list[str]) -> list[str]:
    """Lets ``--octaves -2:3`` through: argparse would take "-2:3" for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--octaves" and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"--octaves={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _check_output(path: str) -> None:
    """Fail before dreaming rather than after: a known extension and a writable place."""
    from PIL import Image

    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a directory")
    extension = os.path.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(extension)
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"cannot write {path}: unknown image extension {extension or '(none)'!r}; "
                         "use .png, .jpg, .webp, .bmp or .tif")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")


def _run(args: argparse.Namespace) -> int:
    from . import images
    from .dream import dream
    from .model import InceptionV3, LAYER_NAMES
    from .weights import WeightsError

    if args.demo and args.input is not None:
        raise UsageError("give either INPUT or --demo, not both")
    _check_output(args.output)
    max_dim = args.max_dim or None
    source = args.input
    try:
        img = images.default_image(max_dim) if source is None else images.load_image(source, max_dim)
    except OSError as error:  # missing, unreadable, a directory, a failed download
        raise UsageError(f"cannot read {source}: {error.strerror or error}"
                         if getattr(error, "filename", None) else str(error)) from None
    except ValueError as error:  # not an image
        raise UsageError(str(error)) from None

    try:
        model = InceptionV3(args.weights)
    except WeightsError as error:
        raise UsageError(str(error)) from None
    for name in args.layers:
        if name not in model.available_layers:
            served = model.available_layers
            span = f"{served[0]}..{served[-1]}" if served == LAYER_NAMES[:len(served)] else ", ".join(served)
            raise UsageError(
                f"{name} cannot be computed with {'the shipped weights' if args.weights is None else args.weights}"
                f" (they serve {span}); for mixed9/mixed10 pass --weights with Keras' weights, "
                "see deepdream.weights.fetch_keras_weights")

    started = time.perf_counter()
    try:
        out = dream(img, layers=args.layers, octaves=args.octaves, octave_scale=args.octave_scale,
                    steps_per_octave=args.steps, step_size=args.step_size, tile_size=args.tile_size,
                    tiles=args.tiles, seed=args.seed, progress=not args.quiet, model=model)
    except (ValueError, TypeError) as error:  # sizes and settings the model cannot use
        raise UsageError(str(error)) from None
    try:
        images.save_image(out, args.output)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot write {args.output}: {getattr(error, 'strerror', None) or error}") from None
    if not args.quiet:
        print(f"{PROG}: wrote {args.output} ({out.shape[1]}x{out.shape[0]}, "
              f"{time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, 2 for a usage error, 130 on Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(_join_negative_values(argv))
        return _run(args)
    except UsageError as error:
        message = " ".join(str(error).split())  # always one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted, no image written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
