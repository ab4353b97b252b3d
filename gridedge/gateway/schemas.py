"""The JSON Schemas GridEdge publishes, generated from the models so they can never drift."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from gridedge.devices.profile import Profile
from gridedge.edge.event import json_schema as event_schema
from gridedge.gateway.settings import GatewayConfig
from gridedge.rules.model import RulePack


def _schema(model: type[BaseModel], name: str) -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://gridedge.example/schemas/{name}",
        **model.model_json_schema(by_alias=True),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def published_schemas() -> dict[str, str]:
    from gridedge.gateway.api import openapi_document

    return {
        "grid-event-v1.json": event_schema(),
        "device-profile.json": _schema(Profile, "device-profile.json"),
        "rule-pack.json": _schema(RulePack, "rule-pack.json"),
        "gateway-config.json": _schema(GatewayConfig, "gateway-config.json"),
        "gateway-api.json": openapi_document(),  # the local API's OpenAPI document
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in published_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
