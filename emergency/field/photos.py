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
from sqlmodel import Session

from emergency.audit import service as audit_service
from emergency.exceptions import AppError, InvalidInput, NotFound, PayloadTooLarge
from emergency.field.models import Photo

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048
TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
_ID = re.compile(r"^[0-9a-f]{64}$")


class UnsupportedImage(AppError):
    status_code = 415
    code = "unsupported_media_type"


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
        with Image.open(BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
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


def store(session: Session, *, data: bytes, actor: str, data_dir: Path) -> tuple[Photo, bool]:
    """Check, clean and store a photo; (photo, True) when new, (existing, False) when known."""
    cleaned, content_type, width, height = clean(data)
    photo_id = hashlib.sha256(cleaned).hexdigest()
    existing = session.get(Photo, photo_id)
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
    return photo


def require(session: Session, photo_id: str | None, *, field: str = "photo_id") -> str | None:
    """A photo id given with a report must be of an uploaded photo (422 otherwise)."""
    if photo_id is None:
        return None
    if not _ID.match(photo_id) or session.get(Photo, photo_id) is None:
        raise InvalidInput(
            f"{field}: no uploaded photo {photo_id!r} (POST /api/v1/photos first)",
            code="unknown_photo",
        )
    return photo_id
