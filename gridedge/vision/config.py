"""Camera, zone and detector configuration (typed, strict: a typo is an error with file:line:field)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from gridedge.edge.config import StrictModel
from gridedge.edge.grid import Location

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]


class ZoneConfig(StrictModel):
    name: str = Field(min_length=1, description="Zone name, reported as the event's source zone.")
    polygon: list[Point] = Field(min_length=3, description="Vertices in frame coordinates normalised to 0..1.")
    category: str = Field(description="Category code of a violation here, e.g. street_order.outside_shop_operation.")
    classes: list[str] = Field(
        default_factory=list,
        description="Detector classes that count here (e.g. bicycle, motorcycle); needs a detector that knows "
        "them. Empty: any new static object (a corridor: anything left there blocks the way out).",
    )
    dwell_s: float = Field(default=120.0, gt=0, description="How long something must stay before it is a violation.")
    clear_s: float = Field(default=10.0, gt=0, description="How long after the object is gone the incident resolves.")
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


class PeopleConfig(StrictModel):
    hog: bool = Field(default=True, description="Check new static objects with OpenCV's HOG people detector.")
    hog_threshold: float = Field(default=0.3, description="HOG SVM score above which a crop holds a person.")
    sway: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of an object's pixels that move frame to frame, "
        "on average, above which a tall object is a person standing (goods do not sway).",
    )
    min_aspect: float = Field(
        default=1.4, gt=0, description="Height over width from which a swaying object may be a person."
    )


DetectorConfig = Annotated[OnnxDetector | OpenCvDnnDetector | UltralyticsDetector, Field(discriminator="type")]


class CameraConfig(StrictModel):
    id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Camera id, reported as the event's camera_id; also the name of its state folder.",
    )
    source: str = Field(
        default="",
        description="RTSP/HTTP URL, video file path, or a device number such as 0: the main stream, at full "
        "resolution. Evidence snapshots come from it.",
    )
    analysis_source: str = Field(
        default="",
        description="A lower-resolution stream of the same view to analyse instead (an IP camera's substream, "
        "e.g. rtsp://.../stream2): decoding it costs a fraction of the main stream. Evidence is then taken "
        "from `source` when an incident is reported, its boxes scaled to the main stream's size. Empty: "
        "analyse `source` itself.",
    )
    location: Location | None = Field(default=None, description="Where the camera looks; default: the gateway's place.")
    zones: list[ZoneConfig] = Field(min_length=1, description="Where violations are watched for, each with its rules.")
    analyse_fps: float = Field(default=5.0, gt=0, description="Frames analysed per second; the rest are skipped.")
    analysis_width: int | None = Field(
        default=None,
        ge=64,
        description="Analysed frames wider than this are scaled down to it first (aspect kept), for a camera "
        "without a substream; evidence keeps the decoded frame's full size. None: analyse at the stream's size.",
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Added to the agent's nice value for this camera's worker process (at most 19), so decoding "
        "and analysis yield the CPU to the alarm path; 0: the agent's priority.",
    )
    still_s: float = Field(default=2.0, gt=0, description="Pixels unchanged this long count as still.")
    offline_after_s: float = Field(default=30.0, gt=0, description="A stream down this long raises camera.offline.")
    detector: DetectorConfig | None = Field(default=None, description="Optional object detector; none: class-agnostic.")
    blur_people: bool = Field(default=True, description="Blur people (and anything moving) in evidence snapshots.")
    people: PeopleConfig = Field(
        default_factory=PeopleConfig, description="How people standing still are told from goods."
    )

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique per camera")
        return self

    @model_validator(mode="after")
    def _main_stream_beside_the_analysed_one(self) -> CameraConfig:
        if self.analysis_source and not self.source:
            raise ValueError("analysis_source needs source, the main stream that evidence comes from")
        return self

    @model_validator(mode="after")
    def _zones_the_detector_can_serve(self) -> CameraConfig:
        """A zone that counts classes needs a detector that knows them: refused here, never a zone that
        silently cannot fire."""
        problems: list[InitErrorDetails] = []
        known = detector_classes(self.detector) if self.detector is not None else None
        for i, zone in enumerate(self.zones):
            if not zone.classes:
                continue
            if self.detector is None:
                message = "classes need a detector and none is set (leave classes empty to report any object)"
            elif known is not None and (missing := [c for c in zone.classes if c not in known]):
                message = f"the detector has no class {', '.join(missing)} (it knows {', '.join(known) or 'none'})"
            else:
                continue
            problems.append(
                InitErrorDetails(
                    type=PydanticCustomError("zone_classes", message), loc=("zones", i, "classes"), input=zone.classes
                )
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self


def detector_classes(config: OnnxDetector | OpenCvDnnDetector | UltralyticsDetector) -> list[str] | None:
    """The class names a detector will report, where they can be known without running it: from the
    config (OpenCV DNN) or the ONNX model's metadata; None when they cannot (no file yet, a .pt model)."""
    if isinstance(config, OpenCvDnnDetector):
        return list(config.names)
    if isinstance(config, UltralyticsDetector) or not Path(config.model).is_file():
        return None
    import onnxruntime as ort

    from gridedge.vision.detector.base import names_from_metadata

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        meta = ort.InferenceSession(config.model, options, providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception:
        return None
    names = meta.custom_metadata_map.get("names")
    return names_from_metadata(names) if names else []
