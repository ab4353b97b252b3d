"""Camera, zone and detector configuration (typed, strict: a typo is an error with file:line:field)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gridedge.edge.config import StrictModel
from gridedge.edge.grid import Location

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]


class ZoneConfig(StrictModel):
    name: str = Field(min_length=1, description="Zone name, reported as the event's source zone.")
    polygon: list[Point] = Field(min_length=3, description="Vertices in frame coordinates normalised to 0..1.")
    category: str = Field(description="Category code of a violation here, e.g. street_order.outside_shop_operation.")
    classes: list[str] = Field(
        default_factory=list,
        description="Detector classes that count here (e.g. bicycle, motorcycle); empty: any new static object.",
    )
    dwell_s: float = Field(default=120.0, gt=0, description="How long something must stay before it is a violation.")
    clear_s: float = Field(default=10.0, gt=0, description="How long the zone must stay clear before it resolves.")
    min_area: float = Field(default=0.002, gt=0, lt=1, description="Smallest object, as a fraction of the frame.")
    update_s: float = Field(default=600.0, gt=0, description="A standing violation republishes at most this often.")


class OnnxDetector(StrictModel):
    type: Literal["onnx"] = Field(default="onnx", description="ONNX Runtime (the gateway default).")
    model: str = Field(description="Absolute path of a YOLOv8/YOLO11-format ONNX model; class names from its metadata.")
    imgsz: int = Field(default=320, ge=32, description="Input size, when the model does not fix it.")
    confidence: float = Field(default=0.35, gt=0, lt=1, description="Detections below this score are ignored.")
    threads: int = Field(default=2, ge=1, description="ONNX Runtime intra-op threads.")


class OpenCvDnnDetector(StrictModel):
    type: Literal["opencv_dnn"] = Field(default="opencv_dnn", description="OpenCV DNN.")
    model: str = Field(description="Absolute path of a YOLOv8/YOLO11-format ONNX model.")
    names: list[str] = Field(default_factory=list, description="Class names (OpenCV DNN cannot read ONNX metadata).")
    imgsz: int = Field(default=320, ge=32, description="Input size the model was exported at.")
    confidence: float = Field(default=0.35, gt=0, lt=1, description="Detections below this score are ignored.")


class UltralyticsDetector(StrictModel):
    type: Literal["ultralytics"] = Field(default="ultralytics", description="Ultralytics, for .pt models.")
    model: str = Field(description="Absolute path of a .pt model (needs the `ultralytics` extra).")
    imgsz: int = Field(default=320, ge=32, description="Inference size.")
    confidence: float = Field(default=0.35, gt=0, lt=1, description="Detections below this score are ignored.")


DetectorConfig = Annotated[OnnxDetector | OpenCvDnnDetector | UltralyticsDetector, Field(discriminator="type")]


class CameraConfig(StrictModel):
    id: str = Field(min_length=1, description="Camera id, reported as the event's camera_id.")
    source: str = Field(default="", description="RTSP/HTTP URL, video file path, or a device number such as 0.")
    location: Location | None = Field(default=None, description="Where the camera looks; default: the gateway's place.")
    zones: list[ZoneConfig] = Field(min_length=1, description="Where violations are watched for, each with its rules.")
    analyse_fps: float = Field(default=5.0, gt=0, description="Frames analysed per second; the rest are skipped.")
    width: int = Field(default=640, ge=64, description="Frames are scaled to this width before analysis.")
    still_s: float = Field(default=2.0, gt=0, description="Pixels unchanged this long count as still.")
    offline_after_s: float = Field(default=30.0, gt=0, description="A stream down this long raises camera.offline.")
    detector: DetectorConfig | None = Field(default=None, description="Optional object detector; none: class-agnostic.")
    blur_people: bool = Field(default=True, description="Blur moving objects (people) in evidence snapshots.")

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique per camera")
        return self
