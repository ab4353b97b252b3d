"""Photos officers attach at a workflow step (the unit's feedback with a picture of the work done, the
check): what is accepted, and reading one back within the officer's jurisdiction, like evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridedge.center.store import CaseNotFoundError, CaseStore, Photo
from gridedge.center.tables import CasePhoto

MAX_PHOTOS_PER_STEP = 6
SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}
"""Accepted by their first bytes, not by the name or type the browser claims. WebP is checked apart."""


class PhotoError(ValueError):
    """An upload refused: it names the file and why (size, type, count)."""


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    id: int
    step_id: int | None
    actor: str
    at: float


def image_type(content: bytes) -> str | None:
    for signature, content_type in SIGNATURES.items():
        if content.startswith(signature):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def accept_photos(files: Sequence[tuple[str, bytes]], max_bytes: int) -> list[Photo]:
    """Check uploads (name, bytes): at most MAX_PHOTOS_PER_STEP, each a JPEG, PNG or WebP within `max_bytes`.
    Empty file fields (a form sent with no photo chosen) are skipped."""
    chosen = [(name, content) for name, content in files if content]
    if len(chosen) > MAX_PHOTOS_PER_STEP:
        raise PhotoError(f"at most {MAX_PHOTOS_PER_STEP} photos per step, got {len(chosen)}")
    photos = []
    for name, content in chosen:
        if len(content) > max_bytes:
            raise PhotoError(f"photo {name!r}: over the limit of {max_bytes:,} bytes")
        content_type = image_type(content)
        if content_type is None:
            raise PhotoError(f"photo {name!r}: not a JPEG, PNG or WebP image")
        photos.append(Photo(content_type, content))
    return photos


def case_photos(store: CaseStore, scope: Sequence[str], event_id: str) -> list[PhotoInfo]:
    case = store.case(scope, event_id)
    stmt = (
        select(CasePhoto.id, CasePhoto.step_id, CasePhoto.actor, CasePhoto.at)
        .where(CasePhoto.event_id == case.event_id)
        .order_by(CasePhoto.id)
    )
    with Session(store.engine) as session:
        return [PhotoInfo(*row) for row in session.execute(stmt)]


def photo(store: CaseStore, scope: Sequence[str], event_id: str, photo_id: int) -> tuple[str, bytes]:
    """One photo of a case in scope (the case check is the store's, so another grid's photo is 'not found')."""
    case = store.case(scope, event_id)
    with Session(store.engine) as session:
        row = session.get(CasePhoto, photo_id)
        if row is None or row.event_id != case.event_id:
            raise CaseNotFoundError(f"no photo {photo_id} on case {event_id}")
        return row.content_type, row.content
