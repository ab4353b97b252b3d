"""The gateway's local HTTP API: what an installer needs to see and fix a gateway in the field.

Every route but `/healthz` and the installer page's static files wants `Authorization: Bearer
<token>`; the page asks for the token once and keeps it in the browser. The server binds to loopback
unless the config says otherwise. What it shows comes from the read model, what it changes (reload,
silences) goes to the control port (gateway/ports.py); a new route takes the port it needs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import asdict
from importlib import resources
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from gridedge import __version__
from gridedge.edge.clock import SystemClock
from gridedge.gateway.ports import ControlPort, ReadModel
from gridedge.gateway.state import DeviceState, DeviceView, LocalState, alert_json
from gridedge.rules.hygiene import SilenceRefusedError
from gridedge.rules.model import Silence

KEEPALIVE_S = 15.0
MAX_SAMPLE_CHARS = 65_536  # a device message, not a file
BEARER = HTTPBearer(auto_error=False)


class Health(BaseModel):
    status: str = "ok"
    gateway_id: str
    version: str


class Readiness(BaseModel):
    ready: bool = Field(description="Southbound broker connected: readings can arrive.")
    southbound_connected: bool
    uplink: str = Field(description="Uplink state; not part of readiness, the outbox covers an outage.")


class PointValue(BaseModel):
    value: bool | int | float | str | None
    unit: str | None
    ts: float = Field(description="Seconds since the epoch, as the device stamped it.")
    quality: str


class Device(BaseModel):
    id: str
    profile: str
    site: str
    address: str | None
    state: DeviceState
    last_seen: float | None = Field(description="When the gateway last heard from it (epoch seconds).")
    points: dict[str, PointValue] = Field(description="Last value of each point.")


class SampleRequest(BaseModel):
    payload: str = Field(max_length=MAX_SAMPLE_CHARS, description="The sample as text, hex or base64.")
    encoding: Literal["text", "hex", "base64"] = "text"

    def raw(self) -> bytes:
        """The sample's bytes; ValueError names what is wrong with the encoding."""
        try:
            if self.encoding == "hex":
                return bytes.fromhex(self.payload)
            if self.encoding == "base64":
                return base64.b64decode(self.payload, validate=True)
        except (ValueError, binascii.Error) as err:
            raise ValueError(f"payload is not {self.encoding}: {err}") from None
        return self.payload.encode()


class SampleReading(BaseModel):
    point: str
    value: bool | int | float | str | None
    unit: str | None
    quality: str


class SampleDecoded(BaseModel):
    readings: list[SampleReading] = Field(description="The readings the sample makes.")
    problems: list[str] = Field(description="Values that do not fit their point: the profile or the device is wrong.")
    absent: list[str] = Field(description="Points of the profile the sample does not hold.")
    device_time: float | None = Field(
        description="The device's own timestamp (epoch seconds), when the profile reads one."
    )


class EventSummary(BaseModel):
    event_id: str
    seq: int
    status: str
    category: str
    severity: str
    device_id: str
    rule_id: str
    title: str
    observed_at: float


class UplinkStatus(BaseModel):
    state: str
    published: int
    reconnects: int
    last_error: str | None


class OutboxStatus(BaseModel):
    depth: int = Field(description="Events waiting for the broker's acknowledgement.")
    oldest_age_s: float
    uplink: UplinkStatus


class Camera(BaseModel):
    id: str


class ActiveSilenceView(BaseModel):
    id: str = Field(description="Expire it early with DELETE /api/silences/{id}.")
    rule: str | None
    device: str | None
    site: str | None
    ends_at: float = Field(description="Epoch seconds.")
    reason: str
    author: str
    created_at: float = Field(description="When it was set (epoch seconds).")
    from_pack: bool = Field(description="Came with the rule files (replaced on reload) rather than from this API.")


class Done(BaseModel):
    ok: bool = True
    detail: Any = None


def create_api(read: ReadModel, control: ControlPort, registry: CollectorRegistry, token: str) -> FastAPI:
    state = read.state
    app = FastAPI(
        title="GridEdge gateway local API",
        version=__version__,
        description="Health, devices, live readings, recent events, outbox, reload and silences of one gateway.",
    )

    def authorised(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        if creds is None or not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.get("/healthz", tags=["health"])
    async def health() -> Health:
        """Liveness: the process answers. No token needed."""
        return Health(gateway_id=read.gateway_id, version=__version__)

    api = APIRouter(dependencies=[Depends(authorised)], responses={401: {"description": "Missing or wrong token"}})

    @api.get("/readyz", tags=["health"], responses={503: {"model": Readiness, "description": "Not ready"}})
    async def readiness(response: Response) -> Readiness:
        ready = read.southbound_connected()
        if not ready:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(ready=ready, southbound_connected=ready, uplink=read.uplink.state.value)

    def device_model(d: DeviceView) -> Device:
        points = {
            p: PointValue(value=r.value, unit=r.unit, ts=r.ts, quality=r.quality.value) for p, r in d.points.items()
        }
        return Device(
            id=d.id,
            profile=d.profile,
            site=d.site,
            address=d.address,
            state=state.state_of(d),
            last_seen=d.last_seen,
            points=points,
        )

    @api.get("/api/devices", tags=["devices"])
    async def devices() -> list[Device]:
        """Every device of the inventory, with its state and the last value of each point."""
        return [device_model(d) for d in state.devices.values()]

    @api.get("/api/devices/{device_id}", tags=["devices"], responses={404: {"description": "No such device"}})
    async def device(device_id: str) -> Device:
        found = state.devices.get(device_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r} in the inventory")
        return device_model(found)

    @api.get("/api/stream", tags=["live"], response_class=EventSourceResponse)
    async def stream() -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: `reading` and `event` items as they happen (a slow client loses its oldest)."""
        with state.subscribe() as queue:
            yield ServerSentEvent(comment="connected")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ServerSentEvent(comment="keepalive")
                    continue
                yield ServerSentEvent(event=item.pop("kind"), data=item)

    @api.get("/api/events", tags=["events"])
    async def events(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[EventSummary]:
        """The most recent grid-event revisions this gateway raised, newest first."""
        recent = list(state.events)[-limit:]
        return [EventSummary(**alert_json(a)) for a in reversed(recent)]

    @api.get("/api/outbox", tags=["events"])
    async def outbox() -> OutboxStatus:
        depth, age = await asyncio.to_thread(lambda: (read.outbox.depth(), read.outbox.oldest_age()))
        up = read.uplink
        return OutboxStatus(
            depth=depth,
            oldest_age_s=age,
            uplink=UplinkStatus(
                state=up.state.value, published=up.published, reconnects=up.reconnects, last_error=up.last_error
            ),
        )

    @api.get("/metrics", tags=["metrics"], response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics() -> Response:
        """Prometheus exposition (scrape with `authorization: {credentials: <token>}`); on a worker thread,
        as it asks the outbox's database."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    _control_routes(api, control)
    _camera_routes(api, read)
    _sample_routes(api, read)
    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    static = resources.files("gridedge.gateway") / "static"
    app.mount("/ui", StaticFiles(directory=str(static), html=True), name="installer")
    return app


def _control_routes(api: APIRouter, control: ControlPort) -> None:
    """What an installer changes: reloads and silences."""

    @api.post("/api/config/reload", tags=["config"])
    async def reload() -> Done:
        """Re-read what the agent can reload without a restart: inventory and profiles, then rules."""
        devices = await control.reload_devices()  # a refused file is logged and counted; the old one runs
        return Done(detail={"reload_devices": devices, "reload_rules": await control.reload_rules()})

    @api.get("/api/silences", tags=["silences"])
    async def silences() -> list[ActiveSilenceView]:
        """Silences in force: the rule packs' own and those added here, until each one ends."""
        return [ActiveSilenceView.model_validate(asdict(s)) for s in control.silences()]

    @api.post(
        "/api/silences",
        tags=["silences"],
        responses={
            400: {"description": "Body is not JSON"},
            422: {"description": "Refused: no author or reason, already over, or longer than the maximum"},
        },
    )
    async def add_silence(silence: Silence) -> ActiveSilenceView:
        """Mute matching incidents until `ends_at` (maintenance on a device, works on a site); what fires
        meanwhile is held, not lost. Needs `author` and `reason`; `ends_at` no later than the gateway's
        `max_silence_s` from now. Durable when answered: it survives restarts, and the centre sees it in
        the gateway's status."""
        try:
            active = await control.silence(silence)
        except SilenceRefusedError as refused:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"silence refused: {refused}") from None
        return ActiveSilenceView.model_validate(asdict(active))

    @api.delete(
        "/api/silences/{silence_id}",
        tags=["silences"],
        responses={404: {"description": "No such silence in force"}, 409: {"description": "A rule pack's own"}},
    )
    async def expire_silence(silence_id: str) -> Done:
        """End an operator's silence now; what it held and still fires is published at once."""
        try:
            await control.expire_silence(silence_id)
        except SilenceRefusedError as refused:
            raise HTTPException(status.HTTP_409_CONFLICT, str(refused)) from None
        except LookupError as missing:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(missing)) from None
        return Done(detail={"expired": silence_id})


def _camera_routes(api: APIRouter, read: ReadModel) -> None:
    """What the cameras show."""

    @api.get("/api/cameras", tags=["cameras"])
    def cameras() -> list[Camera]:
        """The configured cameras; each one's latest frame, zones drawn, is at .../frame.jpg."""
        return [Camera(id=c) for c in read.cameras.ids()]

    @api.get(
        "/api/cameras/{camera_id}/frame.jpg",
        tags=["cameras"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No such camera, or no frame yet"}},
    )
    def camera_frame(camera_id: str) -> Response:
        """Latest frame with its zones drawn (refreshed every few seconds while the camera streams)."""
        if camera_id not in read.cameras.ids():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
        frame = read.cameras.frame(camera_id)
        if frame is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera_id!r} has sent no frame yet")
        return Response(frame, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @api.post(
        "/api/cameras/{camera_id}/reference",
        tags=["cameras"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={404: {"description": "No such camera"}},
    )
    def capture_reference(camera_id: str) -> Done:
        """The installer says the scene is empty now: the camera's next frame becomes its reference, so
        goods out when the agent starts are seen and their removal is not mistaken for a new object."""
        if not read.cameras.capture_reference(camera_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
        return Done(detail={"reference": "requested"})


class _NoGateway:
    """Enough of a read model to build the routes (they read it only when called)."""

    def __init__(self, state: LocalState) -> None:
        self.state = state


def openapi_document() -> str:
    """The published OpenAPI document (schemas/gateway-api.json); routes do not need a live agent."""
    read = cast("ReadModel", _NoGateway(LocalState([], SystemClock())))
    app = create_api(read, cast("ControlPort", None), CollectorRegistry(), "")
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _sample_routes(api: APIRouter, read: ReadModel) -> None:
    @api.post(
        "/api/devices/{device_id}/test",
        tags=["devices"],
        responses={
            400: {"description": "Body is not JSON"},
            404: {"description": "No such device"},
            422: {"description": "The sample cannot be read"},
        },
    )
    async def test_device(device_id: str, body: SampleRequest) -> SampleDecoded:
        """Decode a sample (an MQTT payload, or a Modbus register dump) with the device's profile, as
        `gridedge profile test` does: what a real message from this device would become. Nothing is stored."""
        try:
            result = read.try_sample(device_id, body.raw())
        except ValueError as err:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
        if result is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r} in the inventory")
        return SampleDecoded(
            readings=[
                SampleReading(point=r.point, value=r.value, unit=r.unit, quality=r.quality.value)
                for r in result.readings
            ],
            problems=result.problems,
            absent=result.absent,
            device_time=result.device_time,
        )
