"""Staff photos for the 挂牌 card: whatever is uploaded is opened and re-encoded.

Only JPEG, PNG and WebP are accepted, recognised by their content (never by the file
name). The picture is turned upright by its EXIF orientation, shrunk to at most
``MAX_SIDE`` pixels, and saved as a fresh JPEG without any metadata (EXIF carries GPS
positions and camera serials) under ``instance/photos/`` with a random name, so the
public photo URL cannot be guessed and changes with every new picture.
"""
from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import warnings
from typing import IO

from . import audit
from .db import db
from .models import Staff, User
from .records import FieldError

# Decoders tried; a phone camera's JPEG may open as MPO (the JPEG decoder's own).
FORMATS = ("JPEG", "PNG", "WEBP")
MAX_SIDE = 600
MAX_PIXELS = 40_000_000  # a 5 MB file can claim far more; refuse before decoding it
QUALITY = 85
NAME = re.compile(r"[0-9a-f]{32}\.jpg")


def folder(instance_path: str) -> str:
    return os.path.join(instance_path, "photos")


def mib(n: int) -> str:
    """A size limit as people read it: 5 MB, 500 KB."""
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def read_upload(stream: IO[bytes], max_bytes: int) -> bytes:
    """The uploaded bytes, refused (FieldError) when empty or over ``max_bytes``."""
    data = stream.read(max_bytes + 1)
    if not data:
        raise FieldError("photo", "请选择照片文件")
    if len(data) > max_bytes:
        raise FieldError("photo", f"照片文件不能超过 {mib(max_bytes)}")
    return data


def reencode(data: bytes) -> bytes:
    """The photo as an upright JPEG of at most MAX_SIDE pixels, with no metadata.
    Raises FieldError for anything that is not a readable JPEG, PNG or WebP image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    not_image = FieldError("photo", "只能上传 JPEG、PNG 或 WebP 格式的图片")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise FieldError("photo", "图片像素过大，请换一张较小的照片")
                img.load()
                upright = ImageOps.exif_transpose(img)
    except FieldError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise not_image from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise FieldError("photo", "图片文件已损坏，无法读取") from None
    if upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    else:
        upright = upright.convert("RGB")
    upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=QUALITY, optimize=True)  # no exif=, no icc: bare
    return out.getvalue()


def store(data: bytes, photos: str) -> str:
    """Write a re-encoded photo under a new random name; returns the name."""
    os.makedirs(photos, exist_ok=True)
    name = secrets.token_hex(16) + ".jpg"
    fd, tmp = tempfile.mkstemp(dir=photos, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(photos, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return name


def remove(name: str | None, photos: str) -> None:
    """Delete a photo file this module wrote (other names are left alone)."""
    if name and NAME.fullmatch(name):
        try:
            os.unlink(os.path.join(photos, name))
        except FileNotFoundError:
            pass


def set_photo(staff: Staff, stream: IO[bytes], photos: str, max_bytes: int,
              actor: User | None) -> str | None:
    """Replace the clerk's photo with the upload. Returns the old file name, which the
    caller removes (``remove``) once the change is committed; nothing is stored when
    the upload is refused (FieldError)."""
    name = store(reencode(read_upload(stream, max_bytes)), photos)
    return _swap(staff, name, actor, "staff.photo")


def clear_photo(staff: Staff, actor: User | None) -> str | None:
    """Take the clerk's photo off the card; returns the file to remove after commit."""
    return _swap(staff, None, actor, "staff.photo_delete")


def _swap(staff: Staff, name: str | None, actor: User | None, action: str) -> str | None:
    old = staff.photo
    staff.photo = name
    db.session.flush()
    audit.record(actor, action, "staff", staff.id, {"photo": old}, {"photo": name})
    return old
