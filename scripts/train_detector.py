"""Train the project's small detector on generated scenes and export it to ONNX (opt-in, never in CI).

Needs a separate environment with Ultralytics and torch (AGPL-3.0; see models/gridedge-scenes/LICENSE.md):

    python3.11 -m venv /work/train-venv
    /work/train-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics==8.4.190 onnx
    PYTHONPATH=. nice -n 19 /work/train-venv/bin/python scripts/train_detector.py --images 1500 --minutes 15

The scene renderer (gridedge.simulators.scenes) needs only numpy, OpenCV and PyYAML.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import yaml

from gridedge.simulators.scenes import CLASSES, training_image


def make_dataset(root: Path, images: int, val: int) -> Path:
    for split, seeds in (("train", range(images)), ("val", range(1_000_000, 1_000_000 + val))):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            frame, labels = training_image(seed)
            cv2.imwrite(str(root / "images" / split / f"{seed}.jpg"), frame)
            lines = [f"{c} {x:.5f} {y:.5f} {w:.5f} {h:.5f}" for c, x, y, w, h in labels]
            (root / "labels" / split / f"{seed}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    data.write_text(
        yaml.safe_dump(
            {"path": str(root), "train": "images/train", "val": "images/val", "names": dict(enumerate(CLASSES))}
        )
    )
    return data


def model_config(work: Path, width: float) -> Path:
    """yolov8n's layers at `width` times the channels (0.125 is half of yolov8n): a few hundred
    thousand parameters train in minutes on a CPU and run in a few ms per frame on a gateway."""
    import ultralytics

    base = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    base["scales"] = {"n": [0.33, width, 1024]}
    base["nc"] = len(CLASSES)
    path = work / "yolov8n-scenes.yaml"  # the name's "n" selects the one scale above
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def export(weights: Path, data: Path, args: argparse.Namespace, epochs: int) -> dict[str, object]:
    """Validate `weights` on the held-out images, export ONNX at 320 and 640 (class names in the
    metadata), and write metrics.json beside them."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    metrics = model.val(data=str(data), imgsz=args.imgsz, device="cpu", plots=False)
    args.out.mkdir(parents=True, exist_ok=True)
    for size in (320, 640):
        onnx_path = Path(YOLO(str(weights)).export(format="onnx", imgsz=size, opset=17, simplify=False))
        shutil.copy(onnx_path, args.out / f"gridedge-scenes-{size}.onnx")
    summary: dict[str, object] = {
        "classes": list(CLASSES),
        "trained_imgsz": args.imgsz,
        "train_images": args.images,
        "val_images": args.val,
        "width": args.width,
        "epochs": epochs,
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "map50": round(float(metrics.box.map50), 4),
        "map50_95": round(float(metrics.box.map), 4),
        "map50_95_per_class": {name: round(float(metrics.box.maps[i]), 4) for i, name in enumerate(CLASSES)},
    }
    (args.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=15.0, help="time budget (ignored with --epochs)")
    parser.add_argument("--epochs", type=int, help="a fixed number of epochs instead of a time budget")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--width", type=float, default=0.125, help="channel multiplier (yolov8n is 0.25)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gridedge-train")
    parser.add_argument("--out", type=Path, default=Path("models/gridedge-scenes"))
    parser.add_argument(
        "--export-only",
        type=Path,
        metavar="WEIGHTS",
        help="validate and export this checkpoint (a stopped run's best.pt)",
    )
    parser.add_argument("--epochs-done", type=int, default=0, help="with --export-only: epochs the checkpoint saw")
    args = parser.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(args.work / "yolo-config"))
    from ultralytics import YOLO  # AGPL-3.0, only in the training environment

    data = args.work / "data" / "data.yaml"
    if args.export_only:
        print(json.dumps(export(args.export_only, data, args, args.epochs_done)))  # noqa: T201
        return
    data = make_dataset(args.work / "data", args.images, args.val)
    model = YOLO(str(model_config(args.work, args.width)))  # from scratch: no weights are downloaded
    model.train(
        data=str(data),
        imgsz=args.imgsz,
        epochs=args.epochs or 300,
        time=None if args.epochs else args.minutes / 60,
        batch=32,
        workers=2,
        device="cpu",
        project=str(args.work / "runs"),
        name="scenes",
        exist_ok=True,
        plots=False,
        amp=False,
        pretrained=False,
    )
    weights = args.work / "runs" / "scenes" / "weights" / "best.pt"
    print(json.dumps(export(weights, data, args, int(model.trainer.epoch) + 1)))  # noqa: T201


if __name__ == "__main__":
    main()
