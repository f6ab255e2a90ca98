"""Op by op, ours against TensorFlow: the milliseconds of every convolution's forward and
backward pass in one DeepDream step (mixed3+mixed5 loss, forward + backward to the input), ours
from ``InceptionV3.profile`` (timers inside the C core), TensorFlow's from its profiler (the
``_MklNativeConv2D`` / ``Conv2DBackpropInput`` kernels of the ``tf.function`` step that
``bench.py`` times), then the totals per kind of conv and TensorFlow's other ops.

    cd /work/main && PYTHONPATH=/work/main:/work/main/tests python benchmarks/op_compare.py
    ... benchmarks/op_compare.py --size 299 --repeats 10 --ops   # every conv too

TensorFlow's conv times are the convolution alone: its batch-norm scale and shift, ReLU and
their gradients run as separate ops (listed under "TensorFlow's other ops"). Ours include bias,
ReLU and the ReLU mask of the gradient, and our pools are listed as ops of their own.
"""
from __future__ import annotations

import collections
import glob
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (setup_tf, step_input)
import op_profile  # noqa: E402  (step_arguments)


def tf_kernel_ms(xplane: str, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """(per Keras conv scope and pass, per other op type) milliseconds per step from a profile."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane).read_bytes())
    convs: dict[str, float] = collections.defaultdict(float)
    other: dict[str, float] = collections.defaultdict(float)
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for ev in line.events:
                name = plane.event_metadata[ev.metadata_id].name
                if name in ("ExecutorState::Process", "ParallelFor"):
                    continue
                ms = ev.duration_ps / 1e9 / repeats
                m = re.search(r"functional(?:_\d+)?/(conv2d(?:_\d+)*)/convolution", name)
                if m and "Conv2D" in name:
                    convs[m.group(1) + (" bwd" if "Backprop" in name else " fwd")] += ms
                else:
                    other[re.sub(r"_\d+", "", name.split(":")[-1])] += ms
    return convs, other


def keras_scope_to_conv(scope: str, layer_index: dict[str, int]) -> int | None:
    """Our conv number for a call scope: the layer's name plus a counter ("conv2d_4_1" is
    layer conv2d_4, "conv2d_1" layer conv2d): one trailing "_N" dropped."""
    base = re.sub(r"_\d+$", "", scope)
    return layer_index.get(base)


def main() -> None:
    args = op_profile.step_arguments(__doc__.split("\n\n")[0]).parse_args()
    layers = args.layers.split(",")

    tf = bench.setup_tf(args.threads)
    import deepdream
    import tf_reference

    x = bench.step_input(args.size)
    model = deepdream.InceptionV3(threads=args.threads)
    keras_model = tf_reference.keras_inception_v3(model.weights)
    layer_index = {conv.name: i + 1 for i, (conv, _) in enumerate(tf_reference.conv_bn_layers(keras_model))}

    model.profile(x, layers)  # plans the workspace, faults its pages in
    ours = model.profile(x, layers, args.repeats)
    for _ in range(3):  # traces the tf.function, warms up
        tf_reference.loss_and_gradient(keras_model, x, layers)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.repeats):
            tf_reference.loss_and_gradient(keras_model, x, layers)
        tf.profiler.experimental.stop()
        xplanes = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        if len(xplanes) != 1:
            sys.exit(f"expected one TensorFlow profile, found {xplanes}")
        tf_convs, tf_other = tf_kernel_ms(xplanes[0], args.repeats)

    tf_ms: dict[tuple[int, str], float] = collections.defaultdict(float)
    for key, ms in tf_convs.items():
        scope, direction = key.split(" ")
        conv = keras_scope_to_conv(scope, layer_index)
        if conv is None:
            sys.exit(f"cannot map TensorFlow's {scope} to a conv of ours")
        tf_ms[(conv, direction)] += ms

    kinds: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    rows = []
    for op in ours:
        fwd, bwd = op.forward_s / args.repeats * 1e3, op.backward_s / args.repeats * 1e3
        if op.kind != "conv":
            kinds[op.kind][0] += fwd + bwd
            continue
        n = int(op.name.split("_")[1])
        tf_fwd, tf_bwd = tf_ms.pop((n, "fwd"), 0.0), tf_ms.pop((n, "bwd"), 0.0)
        if not tf_fwd or not tf_bwd:
            sys.exit(f"TensorFlow's profile has no forward or backward pass of {op.name}")
        kind = op.shape.split(" ")[0]
        kinds[kind][0] += fwd + bwd
        kinds[kind][1] += tf_fwd + tf_bwd
        rows.append((op.name, op.shape, fwd, bwd, tf_fwd, tf_bwd))
    if tf_ms:
        sys.exit(f"TensorFlow ran convs we did not: {sorted(tf_ms)}")

    print(f"{args.size}x{args.size} {'+'.join(layers)}, {args.threads} threads, "
          f"ms per step (mean of {args.repeats})")
    if args.ops:
        print("| conv | shape | ours fwd | ours bwd | TF fwd | TF bwd | ours/TF |\n|---|---|---|---|---|---|---|")
        for name, shape, fwd, bwd, tfw, tbw in rows:
            print(f"| {name} | {shape} | {fwd:.2f} | {bwd:.2f} | {tfw:.2f} | {tbw:.2f} | "
                  f"{(fwd + bwd) / (tfw + tbw):.2f} |")
    print("| kind | ours ms | TF ms | ours/TF |\n|---|---|---|---|")
    for kind, (o, t) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"| {kind} | {o:.1f} | {t:.1f} | {o / t:.2f} |" if t else f"| {kind} | {o:.1f} | - | - |")
    ours_total = sum(o for o, _ in kinds.values())
    tf_conv_total = sum(t for _, t in kinds.values())
    tf_other_total = sum(tf_other.values())
    print(f"| total | {ours_total:.1f} | {tf_conv_total + tf_other_total:.1f} | "
          f"{ours_total / (tf_conv_total + tf_other_total):.2f} |")
    print(f"\nTensorFlow's other ops, {tf_other_total:.1f} ms: " + ", ".join(
        f"{k} {v:.1f}" for k, v in sorted(tf_other.items(), key=lambda kv: -kv[1]) if v >= 0.1))


if __name__ == "__main__":
    main()
