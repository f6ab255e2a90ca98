"""The ``deepdream`` command, end to end: a real ``python -m deepdream`` process, real files."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import deepdream
from deepdream import cli

TINY = ["--max-dim", "120", "--steps", "1", "--octaves", "0:1", "--seed", "0"]
SOURCE_TREE = Path(deepdream.__file__).resolve().parents[1]


def environment() -> dict:
    """The child imports the same deepdream as this test (an in-place build or the install)."""
    env = dict(os.environ)
    if (SOURCE_TREE / "setup.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_TREE), env.get("PYTHONPATH")]))
    return env


def run(args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    # cwd is never the repository, whose deepdream/ folder has no built extension in CI
    return subprocess.run([sys.executable, "-m", "deepdream", *map(str, args)], cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def photo(tmp_path: Path, name: str, width: int, height: int) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.dstack([x * 255 // width, y * 255 // height, (x + y) % 256]).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(rgb).save(path)
    return path


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deepdream: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


# --- success --------------------------------------------------------------------------------------

def test_dreams_a_file_into_an_image_of_its_size(tmp_path):
    source = photo(tmp_path, "in.png", 110, 90)
    result = run([source, "-o", "out.png", *TINY], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "dream" in result.stderr and "wrote out.png" in result.stderr    # progress bar, summary
    with Image.open(tmp_path / "out.png") as out:
        assert out.format == "PNG" and out.mode == "RGB" and out.size == (110, 90)
        dreamed = np.asarray(out)
    assert np.abs(dreamed.astype(int) - np.asarray(Image.open(source).convert("RGB"))).max() > 0


def test_max_dim_shrinks_a_larger_input_and_options_reach_the_dream(tmp_path):
    source = photo(tmp_path, "wide.jpg", 300, 150)
    result = run([source, "-o", "small.jpg", "--max-dim", "120", "--steps", "1", "--octaves", "-1,0",
                  "--octave-scale", "1.2", "--layers", "mixed3", "--tiles", "tutorial",
                  "--tile-size", "100", "--step-size", "0.02", "--seed", "3", "--quiet"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""                                               # --quiet
    with Image.open(tmp_path / "small.jpg") as out:
        assert out.format == "JPEG" and out.size == (120, 60)


def test_demo_writes_dream_png_by_default(tmp_path):
    result = run(["--demo", *TINY], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "dream.png") as out:
        assert out.size == (120, 80)                                         # coffee.png, 600x400


def test_no_input_is_the_demo(tmp_path):
    result = run([*TINY, "-o", "demo.webp", "--quiet"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "demo.webp") as out:
        assert out.format == "WEBP" and out.size == (120, 80)


def test_negative_octave_range_as_a_separate_argument_parses():
    args = cli.build_parser().parse_args(cli._join_negative_values(["--octaves", "-2:3"]))
    assert args.octaves == [-2, -1, 0, 1, 2]
    args = cli.build_parser().parse_args(["--octaves=-1,0,2"])
    assert args.octaves == [-1, 0, 2]


def test_main_returns_an_exit_status(capsys):
    assert cli.main(["--version"]) == 0
    assert deepdream.__version__ in capsys.readouterr().out
    assert cli.main(["--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "deepdream: error: argument --steps: expected a positive integer, got '0' (see deepdream --help)")


# --- errors a user can act on: exit 2, one line, no traceback, nothing written ---------------------

def test_missing_input(tmp_path):
    assert_one_line_error(run(["nope.jpg", *TINY], cwd=tmp_path), "nope.jpg")
    assert not (tmp_path / "dream.png").exists()


def test_input_that_is_a_directory(tmp_path):
    (tmp_path / "folder").mkdir()
    assert_one_line_error(run(["folder", *TINY], cwd=tmp_path), "folder", "directory")


def test_input_that_is_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    assert_one_line_error(run(["notes.png", *TINY], cwd=tmp_path), "notes.png is not an image")
    assert not (tmp_path / "dream.png").exists()


def test_unknown_layer_lists_the_valid_ones(tmp_path):
    line = assert_one_line_error(run(["--demo", "--layers", "mixed3,mixed11", *TINY], cwd=tmp_path),
                                 "'mixed11'")
    assert all(f"mixed{i}" in line for i in range(11))


def test_layer_the_shipped_weights_cannot_serve(tmp_path):
    line = assert_one_line_error(run(["--demo", "--layers", "mixed9", *TINY], cwd=tmp_path),
                                 "mixed9 cannot be computed", "mixed0..mixed8", "--weights")
    assert "fetch_keras_weights" in line
    assert not (tmp_path / "dream.png").exists()


def test_missing_weights_file(tmp_path):
    assert_one_line_error(run(["--demo", "--weights", "none.ddw", *TINY], cwd=tmp_path), "none.ddw")


@pytest.mark.parametrize("output, fragment", [
    ("no/such/folder/out.png", "does not exist"),
    ("out.xyz", "unknown image extension '.xyz'"),
    ("out", "unknown image extension '(none)'"),
    (".", "directory"),
])
def test_unwritable_output(tmp_path, output, fragment):
    photo(tmp_path, "in.png", 100, 100)
    assert_one_line_error(run(["in.png", "-o", output, *TINY], cwd=tmp_path), fragment)


def test_output_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run(["--demo", "-o", locked / "out.png", *TINY], cwd=tmp_path)
        if os.geteuid() == 0:     # root writes anyway: the run must then succeed
            assert result.returncode == 0, result.stderr
        else:
            assert_one_line_error(result, "permission denied")
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("args, fragment", [
    (["--steps", "0"], "--steps: expected a positive integer, got '0'"),
    (["--steps", "ten"], "--steps: expected a positive integer, got 'ten'"),
    (["--step-size", "-0.1"], "--step-size: expected a positive number"),
    (["--octave-scale", "nan"], "--octave-scale: expected a positive number"),
    (["--octaves", "3:1"], "holds no octave"),
    (["--octaves", "a:b"], "expected start:stop"),
    (["--max-dim", "-5"], "--max-dim: expected an integer >= 0"),
    (["--seed", "-1"], "--seed: expected an integer >= 0"),
    (["--tile-size", "1.5"], "--tile-size: expected a positive integer"),
    (["--tiles", "overlap"], "invalid choice: 'overlap'"),
    (["--tile-size", "20"], "tile_size 20 is too small"),
    (["--octaves", "-9:-8"], "too small for mixed5"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["in.png", "--demo"], "either INPUT or --demo"),
])
def test_bad_settings(tmp_path, args, fragment):
    photo(tmp_path, "in.png", 100, 100)
    # the settings come last so that they override TINY's
    assert_one_line_error(run([*(a for a in args if a == "in.png"), *TINY,
                               *(a for a in args if a != "in.png")], cwd=tmp_path), fragment)
    assert not (tmp_path / "dream.png").exists()


# --- Ctrl-C ---------------------------------------------------------------------------------------

def test_ctrl_c_stops_cleanly_with_status_130(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "deepdream", "--demo", "--max-dim", "300",
                              "--steps", "10000", "-o", "never.png"], cwd=tmp_path, env=environment(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             # Ctrl-C's default even when this run inherited SIGINT ignored
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: list[str] = []
    started = threading.Event()

    def read_stderr():
        while chunk := child.stderr.read(1):
            seen.append(chunk)
            if "step" in "".join(seen[-40:]):
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert started.wait(120), "the progress bar never started: " + "".join(seen)
        time.sleep(2)                                  # well into the dream
        child.send_signal(signal.SIGINT)
        status = child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(10)
    child.stderr.close()
    stderr = "".join(seen)
    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "deepdream: interrupted, no image written"
    assert not (tmp_path / "never.png").exists()
