"""Convert TensorFlow's inception-2015-12-05 per-layer binaries into weights/inception_v3.ddw.

    python weights/convert_shared.py [SOURCE_DIR] [--out weights/inception_v3.ddw]

SOURCE_DIR (default ../shared/weights/inception-2015-12-05 beside the repository) holds
weights_<stem>.dat (float32 LE, [out][kh][kw][in]) and bias_<stem>.dat (float32 LE, [out]),
batch norm already folded; SOURCE_DIR.sha256 lists the sha256 of every file. Every file is
checked first; the kernels are transposed to HWIO (kh, kw, in, out) with their values unchanged.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from deepdream import weights  # noqa: E402

# Files of 4 MiB and more could not be brought into ../shared (see its SOURCE.md).
ABSENT_KERNELS = ("conv2d_82", "conv2d_91")
SOURCE = (
    "TensorFlow InceptionV3 release inception-2015-12-05 (Apache License 2.0), batch norm folded, "
    "from Apple's MetalImageRecognition sample binaries in shu223/iOS-10-Sampler "
    "commit bc65afd48a438223280c3a126b499f63f9bd3622; conv2d_82 and conv2d_91 absent"
)


def verified_files(source_dir: Path) -> dict[str, Path]:
    """Check every file of the sha256 list; return {file name: path}, or exit on a mismatch."""
    listing = source_dir.with_name(source_dir.name + ".sha256")
    files = {}
    for line in listing.read_text().splitlines():
        digest, name = line.split()
        path = source_dir / name
        if not path.is_file():
            sys.exit(f"{path}: listed in {listing} but missing")
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != digest:
            sys.exit(f"{path}: sha256 {found}, {listing} says {digest}; refusing to convert")
        files[name] = path
    return files


def read_float32(files: dict[str, Path], name: str, count: int) -> np.ndarray:
    if name not in files:
        sys.exit(f"{name}: not in the verified sha256 list")
    values = np.fromfile(files[name], dtype="<f4")
    if values.size != count:
        sys.exit(f"{files[name]}: {values.size} float32 values, expected {count}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_dir", nargs="?", type=Path,
                        default=REPO.parent / "shared" / "weights" / "inception-2015-12-05")
    parser.add_argument("--out", type=Path, default=REPO / "weights" / weights.FILE_NAME)
    args = parser.parse_args()

    files = verified_files(args.source_dir)
    print(f"{len(files)} files match their sha256")
    layers = {}
    for spec in weights.CONV_LAYERS:
        if spec.name in ABSENT_KERNELS:
            print(f"{spec.name}: no kernel file weights_{spec.stem}.dat, layer skipped")
            continue
        ohwi = read_float32(files, f"weights_{spec.stem}.dat", spec.cout * spec.kh * spec.kw * spec.cin)
        kernel = ohwi.reshape(spec.cout, spec.kh, spec.kw, spec.cin).transpose(1, 2, 3, 0)
        bias = read_float32(files, f"bias_{spec.stem}.dat", spec.cout)
        layers[spec.name] = (np.ascontiguousarray(kernel), bias)
    weights.save(layers, args.out, SOURCE)
    print(f"wrote {args.out}: {len(layers)} layers, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
