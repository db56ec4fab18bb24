"""Photos from the field: checked by content, cleaned, stored once under TYPHOON_DATA_DIR.

The browser already resizes to ≤ 1600 px JPEG; the server trusts nothing of that: it opens
the bytes with Pillow (only JPEG, PNG and WebP pass), refuses more than MAX_BYTES and
MAX_PIXELS (decompression bombs) before decoding, applies the EXIF orientation and re-encodes
without any metadata (no GPS, no camera serial), capped at MAX_SIDE px. The file is named by
the SHA-256 of what is stored, so the same photo sent twice (a retry) is stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import false, func, or_, select
from sqlmodel import Session, col

from emergency.audit import service as audit_service
from emergency.auth.models import Role, User
from emergency.db import utcnow
from emergency.exceptions import AppError, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from emergency.field.models import FieldAccount, FieldReport, Hazard, HelpRequest, Photo

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048
TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
_ID = re.compile(r"^[0-9a-f]{64}$")


class UnsupportedImage(AppError):
    status_code = 415
    code = "unsupported_media_type"


class PhotoStoreFull(AppError):
    """All photos together would pass TYPHOON_PHOTOS_MAX_MB: the disk is kept for the
    database and the logs (the field form keeps the report and sends it without the photo)."""

    status_code = 507
    code = "photo_store_full"


class PhotoDeleted(AppError):
    status_code = 410
    code = "photo_deleted"


def clean(data: bytes) -> tuple[bytes, str, int, int]:
    """(stored bytes, content type, width, height) of an upload, or a 4xx error."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"photo: {len(data)} bytes is over the limit of {MAX_BYTES}")
    if not data:
        raise InvalidInput("photo: the file is empty")
    try:
        with Image.open(BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
            if fmt in TYPES and width * height <= MAX_PIXELS:
                probe.verify()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise UnsupportedImage(
            f"photo: not a JPEG, PNG or WebP image ({type(exc).__name__})"
        ) from None
    if fmt not in TYPES:
        raise UnsupportedImage(f"photo: {fmt} images are not accepted (JPEG, PNG or WebP)")
    if width * height > MAX_PIXELS:
        raise PayloadTooLarge(f"photo: {width}×{height} pixels is over the limit of {MAX_PIXELS}")
    try:
        with Image.open(BytesIO(data)) as opened:
            opened.load()
            img = ImageOps.exif_transpose(opened)
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            out = BytesIO()
            if fmt == "JPEG":
                img.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
            elif fmt == "PNG":
                img.save(out, "PNG", optimize=True)
            else:
                img.save(out, "WEBP", quality=85)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"photo: the image is damaged ({type(exc).__name__})") from None
    return out.getvalue(), TYPES[fmt][0], img.width, img.height


def path_for(data_dir: Path, photo_id: str, content_type: str) -> Path:
    ext = next(e for t, e in TYPES.values() if t == content_type)
    return Path(data_dir) / "photos" / photo_id[:2] / f"{photo_id}.{ext}"


def stored_bytes(session: Session) -> int:
    """What the photos still kept take on disk."""
    total = session.execute(
        select(func.coalesce(func.sum(Photo.size), 0)).where(col(Photo.deleted_at).is_(None))
    ).scalar_one()
    return int(total)


def store(
    session: Session,
    *,
    data: bytes,
    actor: str,
    data_dir: Path,
    max_total_bytes: int | None = None,
) -> tuple[Photo, bool]:
    """Check, clean and store a photo; (photo, True) when new, (existing, False) when known.
    A new photo that would take the store past `max_total_bytes` is refused (507)."""
    cleaned, content_type, width, height = clean(data)
    photo_id = hashlib.sha256(cleaned).hexdigest()
    existing = session.get(Photo, photo_id)
    if existing is not None and existing.deleted_at is not None:
        existing.deleted_at = None  # sent again after the retention removed it: kept anew
        existing.created_at = utcnow()
        session.add(existing)
    elif (
        existing is None
        and max_total_bytes is not None
        and stored_bytes(session) + len(cleaned) > max_total_bytes
    ):
        raise PhotoStoreFull(
            f"photo: the photo store is full ({max_total_bytes // 1_000_000} MB, "
            "TYPHOON_PHOTOS_MAX_MB); send the report without it and tell the command post"
        )
    target = path_for(data_dir, photo_id, content_type)
    if not target.exists():  # written before commit: an orphan file is harmless, a lost one not
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            f.write(cleaned)
        os.replace(tmp, target)
    if existing is not None:
        return existing, False
    photo = Photo(
        id=photo_id,
        content_type=content_type,
        size=len(cleaned),
        width=width,
        height=height,
        uploaded_by=actor,
    )
    session.add(photo)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="photo.uploaded",
        target_type="photo",
        target_id=photo_id,
        after={"size": len(cleaned), "type": content_type},
    )
    return photo, True


def get(session: Session, *, photo_id: str) -> Photo:
    photo = session.get(Photo, photo_id) if _ID.match(photo_id or "") else None
    if photo is None:
        raise NotFound(f"photo {photo_id!r} not found", code="photo_not_found")
    if photo.deleted_at is not None:
        raise PhotoDeleted(
            f"photo {photo_id} was removed on {photo.deleted_at.date()} "
            "(TYPHOON_RETAIN_PHOTOS_DAYS)"
        )
    return photo


def check_can_read(session: Session, photo: Photo, user: User) -> None:
    """A field token reads only its own team's photos (a photo may show a resident's home or
    face): one it uploaded, or one of a report, hazard or request for help of its group or
    crew (reported by it, or assigned to it). Operators and admins read any (the route
    refuses every other role)."""
    if user.role != Role.field:
        return
    if photo.uploaded_by == user.name:
        return
    account = session.get(FieldAccount, user.id)
    group = account.group_id if account else None
    crew = account.crew_id if account else None
    ours_report = or_(
        col(FieldReport.user_id) == user.id,
        *([col(FieldReport.group_id) == group] if group is not None else []),
        *([col(FieldReport.crew_id) == crew] if crew is not None else []),
    )
    ours_hazard = or_(
        *(
            [col(Hazard.group_id) == group, col(Hazard.assigned_group_id) == group]
            if group is not None
            else []
        ),
        *([col(Hazard.assigned_crew_id) == crew] if crew is not None else []),
        false(),
    )
    ours_help = col(HelpRequest.crew_id) == crew if crew is not None else false()
    found = (
        select(col(FieldReport.id))
        .where(col(FieldReport.photo_id) == photo.id, ours_report)
        .limit(1),
        select(col(Hazard.id))
        .where(
            or_(
                col(Hazard.photo_id) == photo.id,
                col(Hazard.rectification_photo_id) == photo.id,
            ),
            ours_hazard,
        )
        .limit(1),
        select(col(HelpRequest.id))
        .where(col(HelpRequest.photo_id) == photo.id, ours_help)
        .limit(1),
    )
    if any(session.execute(query).first() is not None for query in found):
        return
    raise Forbidden(
        f"photo {photo.id} is another team's: this field token reads its own group's or "
        "crew's photos only",
        code="not_your_team",
    )


def require(
    session: Session, photo_id: str | None, *, reader: User | None = None, field: str = "photo_id"
) -> str | None:
    """A photo id given with a report must be of an uploaded photo (422 otherwise) that
    `reader` may read: attaching another team's photo (its id is in the hazard list) to a
    report of one's own would otherwise make it readable (403 not_your_team)."""
    if photo_id is None:
        return None
    photo = session.get(Photo, photo_id) if _ID.match(photo_id) else None
    if photo is None:
        raise InvalidInput(
            f"{field}: no uploaded photo {photo_id!r} (POST /api/v1/photos first)",
            code="unknown_photo",
        )
    if reader is not None:
        check_can_read(session, photo, reader)
    return photo_id
