"""Side-by-side benchmark: deepdream's C core against TensorFlow (Keras InceptionV3 carrying the
same weights), on the same inputs and the same thread count, interleaved in one process.

    cd /work/main && PYTHONPATH=/work/main:/work/main/tests python benchmarks/bench.py
    cd /work/main && PYTHONPATH=/work/main:/work/main/tests python benchmarks/bench.py \
        --runs 3 --octave-steps 5 --threads 2 --json benchmarks/results/quick.json
    ... benchmarks/bench.py --cases step512,step299 --no-rss      # a subset, timing only

Cases: ``step512`` (one DeepDream step, forward + backward to the input, mixed3+mixed5 loss, on a
512x512 input), ``step512_mixed3`` (the same, mixed3 alone), ``step299`` (mixed3+mixed5 on
299x299) and ``octaves`` (the tutorial's whole run_deep_dream_with_octaves with its 512 tiles and
random roll, on the built-in image at max side 500). Every case is timed in this process with the
two sides interleaved (ours, tf, ours, tf, ...) after warm-up; peak RSS is measured afterwards in
one fresh subprocess per side per case (``--worker ours|tf --case NAME``). Both sides get
``--threads`` threads (default: all cores): ours through ``InceptionV3(threads=n)``,
TensorFlow through intra-op n, inter-op 1, set
before it does any work; TensorFlow keeps its defaults otherwise (oneDNN on). See
benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"
DREAM_LAYERS = ("mixed3", "mixed5")
OCTAVES = range(-2, 3)
OCTAVE_SCALE = 1.3
STEP_SIZE = 0.01
TILE_SIZE = 512
ENV_KEYS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "DEEPDREAM_THREADS",
            "OPENBLAS_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS")  # recorded: they change the figures
WORKER_OCTAVE_STEPS = 2  # steps per octave in the RSS workers: every octave size is visited


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    layers: tuple[str, ...]
    size: int | None  # square input side of a single step; None for the octave run


CASES: dict[str, Case] = {c.name: c for c in (
    Case("step512", "1 step 512x512 mixed3+mixed5", DREAM_LAYERS, 512),
    Case("step512_mixed3", "1 step 512x512 mixed3", ("mixed3",), 512),
    Case("step299", "1 step 299x299 mixed3+mixed5", DREAM_LAYERS, 299),
    Case("octaves", "tutorial octave run (tiled)", DREAM_LAYERS, None),
)}


@dataclass
class Result:
    case: str
    description: str
    ours_s: list[float] = field(default_factory=list)
    tf_s: list[float] = field(default_factory=list)
    flops: float = 0.0  # forward + backward-to-input FLOPs of one run: 2 FLOPs x 2 x forward MACs
    extra: dict[str, Any] = field(default_factory=dict)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Inputs

def load_base_image() -> tuple[np.ndarray, str]:
    """The octave run's photo, uint8 (H, W, 3) with max side 500, and where it came from."""
    import deepdream
    from PIL import Image

    if hasattr(deepdream, "default_image"):
        return np.asarray(deepdream.default_image(500)), "deepdream.default_image(500)"
    crop = ROOT / "tests" / "data" / "chelsea_crop.png"
    if crop.exists():
        im = Image.open(crop).convert("RGB")
        scale = 500 / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
        return np.asarray(im), f"{crop.relative_to(ROOT)} resized (bilinear) to max side 500"
    im = Image.open("/work/shared/images/coffee.png").convert("RGB")
    im.thumbnail((500, 500))
    return np.asarray(im), "/work/shared/images/coffee.png thumbnail((500, 500))"


def step_input(size: int) -> np.ndarray:
    """The base photo resized to size x size, preprocessed to float32 [-1, 1]: both sides get it."""
    from PIL import Image

    photo, _ = load_base_image()
    im = Image.fromarray(photo).resize((size, size), Image.BILINEAR)
    return np.asarray(im).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


# ----------------------------------------------------------------------------------------------
# The two sides

def setup_tf(threads: int) -> Any:
    """Imports TensorFlow and fixes its thread pools before it does any work (oneDNN left on)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def setup_ours(threads: int) -> Any:
    """Our model on ``threads`` threads (the core's OpenMP threads, each calling a
    single-threaded sgemm)."""
    import deepdream

    return deepdream.InceptionV3(threads=threads)


def threading_model() -> str:
    return "the core's OpenMP threads, single-threaded sgemm (InceptionV3(threads=n))"


def tf_tutorial_octaves(keras_model: Any, layers: tuple[str, ...]) -> Callable[..., np.ndarray]:
    """The tutorial's run_deep_dream_with_octaves as the notebook writes it (TiledGradients as a
    tf.function over the whole step, random roll), minus the display calls."""
    import keras
    import tensorflow as tf

    dream_model = keras.Model(inputs=keras_model.input,
                              outputs=[keras_model.get_layer(n).output for n in layers])

    def calc_loss(img: tf.Tensor, model: keras.Model) -> tf.Tensor:
        img_batch = tf.expand_dims(img, axis=0)
        layer_activations = model(img_batch)
        if len(layer_activations) == 1:
            layer_activations = [layer_activations]
        losses = [tf.math.reduce_mean(act) for act in layer_activations]
        return tf.reduce_sum(losses)

    def random_roll(img: tf.Tensor, maxroll: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        shift = tf.random.uniform(shape=[2], minval=-maxroll, maxval=maxroll, dtype=tf.int32)
        return shift, tf.roll(img, shift=shift, axis=[0, 1])

    class TiledGradients(tf.Module):
        def __init__(self, model: keras.Model) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=(tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[2], dtype=tf.int32),
                                      tf.TensorSpec(shape=[], dtype=tf.int32)))
        def __call__(self, img, img_size, tile_size=512):
            shift, img_rolled = random_roll(img, tile_size)
            gradients = tf.zeros_like(img_rolled)
            # Skip the last tile, unless there's only one tile.
            xs = tf.range(0, img_size[1], tile_size)[:-1]
            if not tf.cast(len(xs), bool):
                xs = tf.constant([0])
            ys = tf.range(0, img_size[0], tile_size)[:-1]
            if not tf.cast(len(ys), bool):
                ys = tf.constant([0])
            for x in xs:
                for y in ys:
                    with tf.GradientTape() as tape:
                        tape.watch(img_rolled)
                        img_tile = img_rolled[y:y + tile_size, x:x + tile_size]
                        loss = calc_loss(img_tile, self.model)
                    gradients = gradients + tape.gradient(loss, img_rolled)
            gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
            gradients /= tf.math.reduce_std(gradients) + 1e-8
            return gradients

    get_tiled_gradients = TiledGradients(dream_model)

    def run_deep_dream_with_octaves(img: np.ndarray, steps_per_octave: int = 100,
                                    step_size: float = 0.01, octaves: range = range(-2, 3),
                                    octave_scale: float = 1.3) -> np.ndarray:
        base_shape = tf.shape(img)
        img = keras.utils.img_to_array(img)
        img = keras.applications.inception_v3.preprocess_input(img)
        initial_shape = img.shape[:-1]
        img = tf.image.resize(img, initial_shape)
        for octave in octaves:
            new_size = tf.cast(tf.convert_to_tensor(base_shape[:-1]), tf.float32) * (octave_scale ** octave)
            new_size = tf.cast(new_size, tf.int32)
            img = tf.image.resize(img, new_size)
            for _ in range(steps_per_octave):
                gradients = get_tiled_gradients(img, new_size)
                img = img + gradients * step_size
                img = tf.clip_by_value(img, -1, 1)
        return tf.cast(255 * (img + 1.0) / 2.0, tf.uint8).numpy()  # the tutorial's deprocess

    def warm_up(photo: np.ndarray) -> None:
        x = keras.applications.inception_v3.preprocess_input(photo.astype(np.float32))
        get_tiled_gradients(tf.constant(x), tf.constant(x.shape[:2], tf.int32))

    run_deep_dream_with_octaves.warm_up = warm_up  # type: ignore[attr-defined]
    return run_deep_dream_with_octaves


def make_runners(case: Case, ours_model: Any | None, keras_model: Any | None, octave_steps: int,
                 photo: np.ndarray) -> tuple[Callable[[], object] | None, Callable[[], object] | None]:
    """(ours, tf) zero-argument callables running one measured unit of ``case``."""
    ours = tf_run = None
    if case.size is not None:
        x = step_input(case.size)
        if ours_model is not None:
            ours = lambda: ours_model.loss_and_gradient(x, list(case.layers))  # noqa: E731
        if keras_model is not None:
            import tf_reference
            tf_run = lambda: tf_reference.loss_and_gradient(keras_model, x, list(case.layers))  # noqa: E731
    else:
        if ours_model is not None:
            from deepdream import tutorial
            ours = lambda: tutorial.run_deep_dream_with_octaves(  # noqa: E731
                photo, steps_per_octave=octave_steps, step_size=STEP_SIZE, octaves=OCTAVES,
                octave_scale=OCTAVE_SCALE, layers=case.layers, tile_size=TILE_SIZE, seed=0,
                model=ours_model, progress=False)
        if keras_model is not None:
            tf_octaves = tf_tutorial_octaves(keras_model, case.layers)
            tf_octaves.warm_up(photo)  # traces the tf.function once
            tf_run = lambda: tf_octaves(photo, steps_per_octave=octave_steps, step_size=STEP_SIZE,  # noqa: E731
                                        octaves=OCTAVES, octave_scale=OCTAVE_SCALE)
    return ours, tf_run


def case_flops(case: Case, ours_model: Any, photo: np.ndarray, octave_steps: int) -> tuple[float, dict]:
    """FLOPs of one run, counted as 2 FLOPs per MAC and forward + backward-to-input = 2 x forward."""
    from deepdream import _deepdream
    from deepdream.dream import octave_sizes

    block = max(int(name[len("mixed"):]) for name in case.layers)
    if case.size is not None:
        macs = ours_model._net.macs(case.size, case.size, block)
        return 2.0 * 2.0 * macs, {"forward_macs": macs}
    per_step = []
    for h, w in octave_sizes(photo.shape[:2], OCTAVES, OCTAVE_SCALE):
        tiles = [(y1 - y0, x1 - x0) for x0, x1 in _deepdream.tile_bounds(w, TILE_SIZE, False)
                 for y0, y1 in _deepdream.tile_bounds(h, TILE_SIZE, False)]
        per_step.append({"size": [h, w], "tiles": tiles,
                         "forward_macs": sum(ours_model._net.macs(th, tw, block) for th, tw in tiles)})
    macs = octave_steps * sum(o["forward_macs"] for o in per_step)
    return 2.0 * 2.0 * macs, {"forward_macs": macs, "octaves": per_step, "steps_per_octave": octave_steps}


# ----------------------------------------------------------------------------------------------
# Measurement

def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(ours: Callable[[], object], tf_run: Callable[[], object], runs: int, warmup: int,
               label: str) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        ours()
        tf_run()
    ours_s, tf_s = [], []
    for i in range(runs):
        ours_s.append(timed(ours))
        tf_s.append(timed(tf_run))
        print(f"  {label} run {i + 1}/{runs}: ours {ours_s[-1]:.3f} s, tf {tf_s[-1]:.3f} s", flush=True)
    return ours_s, tf_s


def sgemm_gflops(n: int, repeats: int, threads: int) -> float:
    """OpenBLAS sgemm throughput on ``threads`` threads, through the core's OpenBLAS."""
    from deepdream import _deepdream

    return 2.0 * n ** 3 / _deepdream.sgemm_seconds(n, repeats, threads) / 1e9


def maxrss_mb() -> float:
    """getrusage's ru_maxrss. On Linux it survives fork + exec, so a worker started by a big
    parent reports at least the parent's size: kept in the JSON for reference only."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def proc_status_mb(key: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process's own address space, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(side: str, case_name: str, threads: int, octave_steps: int) -> None:
    """One side of one case in a fresh process; prints {"setup_rss_mb", "peak_rss_mb", ...}
    (peak = VmHWM: the high-water mark of this process's resident set)."""
    case = CASES[case_name]
    tf_mod = setup_tf(threads) if side == "tf" else None
    photo, _ = load_base_image()
    ours_model = keras_model = None
    if side == "ours":
        ours_model = setup_ours(threads)
    else:
        import deepdream.weights
        import tf_reference
        keras_model = tf_reference.keras_inception_v3(deepdream.weights.load())
    steps = min(octave_steps, WORKER_OCTAVE_STEPS)
    setup_rss, setup_peak = proc_status_mb("VmRSS"), proc_status_mb("VmHWM")
    ours, tf_run = make_runners(case, ours_model, keras_model, steps, photo)
    fn = ours if side == "ours" else tf_run
    assert fn is not None
    seconds = [timed(fn) for _ in range(1 if case.size is None else 2)]
    print(json.dumps({"side": side, "case": case_name, "threads": threads,
                      "octave_steps": steps if case.size is None else None,
                      "setup_rss_mb": setup_rss, "setup_peak_rss_mb": setup_peak,
                      "peak_rss_mb": proc_status_mb("VmHWM"), "ru_maxrss_mb": maxrss_mb(),
                      "seconds": seconds,
                      "tf_version": tf_mod.__version__ if tf_mod else None}))


def measure_rss(side: str, case_name: str, threads: int, octave_steps: int) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--case", case_name,
           "--threads", str(threads), "--octave-steps", str(octave_steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise RuntimeError(f"worker {side}/{case_name} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: out[k] for k in ("setup_rss_mb", "setup_peak_rss_mb", "peak_rss_mb", "ru_maxrss_mb")}


# ----------------------------------------------------------------------------------------------
# Report

def machine_info(tf_version: str) -> dict[str, Any]:
    from deepdream import _deepdream

    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import keras
    return {"cpu": cpu, "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "blas_config": _deepdream.blas_config(), "tensorflow": tf_version,
            "keras": keras.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ}}


def row(r: Result, peak: float) -> dict[str, Any]:
    ours_med, tf_med = statistics.median(r.ours_s), statistics.median(r.tf_s)
    gflops = r.flops / ours_med / 1e9
    # each run of ours is timed right before one of TensorFlow's: the median of the pairs' ratios
    # is not moved by a slowdown that hits the later runs of the two sides unevenly, as the
    # ratio of the two medians can be (12:13's run: 0.44 by medians, 0.57 by pairs)
    paired = [o / t for o, t in zip(r.ours_s, r.tf_s)]
    return {"case": r.case, "description": r.description, "ours_median_s": ours_med,
            "tf_median_s": tf_med, "ratio_ours_tf": ours_med / tf_med,
            "paired_ratio_median": statistics.median(paired), "paired_ratio_min": min(paired),
            "paired_ratio_max": max(paired), "ours_gflops": gflops,
            "tf_gflops": r.flops / tf_med / 1e9, "pct_sgemm_peak": 100.0 * gflops / peak,
            "flops": r.flops, "ours_s": r.ours_s, "tf_s": r.tf_s, "rss_mb": r.rss_mb, **r.extra}


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["case", "ours median s", "TF median s", "ours/TF", "paired ours/TF (range)",
            "our GFLOP/s", "% sgemm peak", "peak RSS MB ours/TF"]
    lines = []
    for r in rows:
        rss = r["rss_mb"]
        rss_text = (f"{rss['ours']['peak_rss_mb']:.0f} / {rss['tf']['peak_rss_mb']:.0f}"
                    if "ours" in rss and "tf" in rss else "-")
        lines.append([r["description"], f"{r['ours_median_s']:.3f}", f"{r['tf_median_s']:.3f}",
                      f"{r['ratio_ours_tf']:.2f}",
                      f"{r['paired_ratio_median']:.2f} "
                      f"({r['paired_ratio_min']:.2f}-{r['paired_ratio_max']:.2f})",
                      f"{r['ours_gflops']:.1f}",
                      f"{r['pct_sgemm_peak']:.0f}%", rss_text])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(fmt(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for l in lines:
        print(fmt(l))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="threads for both sides (default: all cores available)")
    p.add_argument("--runs", type=int, default=7, help="timed runs per side of each step case (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per side before the step cases")
    p.add_argument("--octave-steps", type=int, default=100, help="steps per octave (tutorial: 100)")
    p.add_argument("--octave-runs", type=int, default=1, help="timed runs per side of the octave case")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--sgemm-n", type=int, default=2048)
    p.add_argument("--sgemm-repeats", type=int, default=5)
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--worker", choices=("ours", "tf"), help=argparse.SUPPRESS)
    p.add_argument("--case", choices=tuple(CASES), help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        worker(args.worker, args.case, args.threads, args.octave_steps)
        return

    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    for n in names:
        if n not in CASES:
            p.error(f"unknown case {n!r}; choose from {', '.join(CASES)}")
    tf = setup_tf(args.threads)  # before TensorFlow does any work
    ours_model = setup_ours(args.threads)
    import deepdream.weights
    import tf_reference
    keras_model = tf_reference.keras_inception_v3(deepdream.weights.load())
    photo, photo_source = load_base_image()

    machine = machine_info(tf.__version__)
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['affinity']} available), "
          f"load average {machine['loadavg_start'][0]:.2f}")
    print(f"OpenBLAS: {machine['blas_config']}")
    print(f"environment: {machine['env'] or 'none of ' + ', '.join(ENV_KEYS)}")
    print(f"TensorFlow {machine['tensorflow']} (Keras {machine['keras']}, oneDNN default), "
          f"Python {machine['python']}, numpy {machine['numpy']}")
    machine["ours_threading"] = threading_model()
    print(f"threads: {args.threads} each (ours: {machine['ours_threading']}; "
          f"TF: intra-op {args.threads}, inter-op 1)")
    print(f"runs: {args.runs} per side per step case after {args.warmup} warm-up, interleaved; "
          f"octave case: {args.octave_runs} run(s) per side, steps_per_octave={args.octave_steps}")
    print(f"octave image: {photo_source}, {photo.shape[0]}x{photo.shape[1]} (HxW)")
    print("FLOPs counted as 2 x forward MACs of the convolutions (forward + backward to the input), "
          "2 FLOPs per MAC", flush=True)

    sgemm_before = sgemm_gflops(args.sgemm_n, args.sgemm_repeats, args.threads)
    print(f"sgemm {args.sgemm_n}^3: {sgemm_before:.1f} GFLOP/s", flush=True)

    results = []
    for name in names:
        case = CASES[name]
        r = Result(name, case.description)
        r.flops, r.extra = case_flops(case, ours_model, photo, args.octave_steps)
        ours, tf_run = make_runners(case, ours_model, keras_model, args.octave_steps, photo)
        assert ours is not None and tf_run is not None
        print(f"{name}: {case.description}", flush=True)
        if case.size is None:
            r.ours_s, r.tf_s = interleave(ours, tf_run, args.octave_runs, 0, name)
        else:
            r.ours_s, r.tf_s = interleave(ours, tf_run, args.runs, args.warmup, name)
        results.append(r)

    sgemm_after = sgemm_gflops(args.sgemm_n, args.sgemm_repeats, args.threads)
    peak = max(sgemm_before, sgemm_after)
    print(f"sgemm {args.sgemm_n}^3 again: {sgemm_after:.1f} GFLOP/s; peak used: {peak:.1f} GFLOP/s",
          flush=True)

    if not args.no_rss:
        for r in results:
            for side in ("ours", "tf"):
                r.rss_mb[side] = measure_rss(side, r.case, args.threads, args.octave_steps)
                print(f"  peak RSS {r.case} {side}: {r.rss_mb[side]['peak_rss_mb']:.0f} MB", flush=True)

    machine["loadavg_end"] = os.getloadavg()
    rows = [row(r, peak) for r in results]
    print()
    print_table(rows)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine,
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "settings": {"threads": args.threads, "runs": args.runs, "warmup": args.warmup,
                           "octave_steps": args.octave_steps, "octave_runs": args.octave_runs,
                           "octave_image": photo_source, "octave_image_shape": list(photo.shape),
                           "worker_octave_steps": min(args.octave_steps, WORKER_OCTAVE_STEPS)},
              "sgemm": {"n": args.sgemm_n, "repeats": args.sgemm_repeats,
                        "gflops_before": sgemm_before, "gflops_after": sgemm_after, "peak_gflops": peak},
              "flop_convention": "FLOPs = 2 per MAC; forward + backward-to-input = 2 x forward conv MACs",
              "cases": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nsaved {args.json}")


if __name__ == "__main__":
    main()
