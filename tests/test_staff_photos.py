"""Staff photos: only real JPEG/PNG/WebP images, size-limited, re-encoded upright
without EXIF under a random name; a refused upload stores nothing."""
from __future__ import annotations

import io
import os

import pytest
import sqlalchemy as sa
from PIL import Image

from kiosk import staff_photos
from kiosk.db import db
from kiosk.models import AuditEntry, Staff
from kiosk.records import FieldError

from .helpers import csrf_token, make_window, pair_device

GPS_IFD = 0x8825
ORIENTATION = 0x0112
ARTIST = 0x013B


def jpeg_with_exif(size=(1200, 800), orientation: int = 6) -> bytes:
    """A landscape photo whose EXIF says "rotate 90° clockwise to show", with a GPS
    position and the photographer's name in it."""
    img = Image.new("RGB", size, (200, 40, 40))
    img.paste((40, 40, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[ARTIST] = "Zhang Li"
    exif.get_ifd(GPS_IFD)[2] = (30.0, 15.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def image_bytes(fmt: str, size=(300, 400), mode="RGB", **options) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 60) if mode == "RGB" else 0).save(out, fmt, **options)
    return out.getvalue()


def noise_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def clerk(app):
    make_window("A01", staff_no="S001", staff_name="张丽")
    return db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))


@pytest.fixture
def admin(login, clerk):
    return login("admin")


def photos(app) -> list[str]:
    folder = staff_photos.folder(app.instance_path)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def upload(client, staff_id: int, data: bytes, filename: str, with_token: bool = True):
    page = client.get(f"/admin/manage/staff/{staff_id}").get_data(as_text=True)
    form = {"photo": (io.BytesIO(data), filename)}
    if with_token:
        form["csrf_token"] = csrf_token(page)
    return client.post(f"/admin/manage/staff/{staff_id}/photo", data=form,
                       content_type="multipart/form-data", follow_redirects=True)


def stored_photo(app, clerk) -> Image.Image:
    db.session.expire_all()
    path = os.path.join(staff_photos.folder(app.instance_path), clerk.photo)
    return Image.open(path)


def test_an_uploaded_photo_loses_its_exif_and_stands_upright(app, admin, clerk):
    resp = upload(admin, clerk.id, jpeg_with_exif(), "IMG_0001.JPG")
    assert resp.status_code == 200
    assert "照片已更新" in resp.get_data(as_text=True)
    with stored_photo(app, clerk) as img:
        assert img.format == "JPEG"
        assert not img.getexif()  # no orientation, no GPS, no name
        assert "exif" not in img.info and "icc_profile" not in img.info
        assert img.size == (400, 600)  # turned upright, longest side 600
        assert img.getpixel((200, 50))[2] > 150  # the blue half is now on top
    assert staff_photos.NAME.fullmatch(clerk.photo)  # a random name, not IMG_0001
    assert photos(app) == [clerk.photo]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff.photo"))
    assert clerk.photo in entry.after
    # The kiosk's card shows it.
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    assert clerk.photo in tablet.get("/k/A01").get_data(as_text=True)


def test_a_text_file_named_jpg_is_refused_and_nothing_is_stored(app, admin, clerk):
    resp = upload(admin, clerk.id, "这不是照片\n".encode() * 100, "photo.jpg")
    assert "只能上传 JPEG、PNG 或 WebP 格式的图片" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert clerk.photo is None and photos(app) == []


def test_an_image_of_another_format_is_refused(app, admin, clerk):
    resp = upload(admin, clerk.id, image_bytes("GIF", mode="L"), "photo.png")
    assert "只能上传 JPEG、PNG 或 WebP" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert clerk.photo is None and photos(app) == []


def test_an_oversized_file_is_refused_and_nothing_is_stored(app, admin, clerk):
    app.config["STAFF_PHOTO_MAX_BYTES"] = 50_000
    for side in (140, 400):  # just over the limit, and far over it (refused unread)
        data = noise_png(side)
        assert len(data) > 50_000
        resp = upload(admin, clerk.id, data, "big.png")
        assert "照片文件不能超过 48 KB" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert clerk.photo is None and photos(app) == []


def test_png_with_transparency_and_webp_are_accepted_as_jpeg(app, admin, clerk):
    upload(admin, clerk.id, image_bytes("PNG", mode="RGBA", size=(900, 900)), "a.png")
    db.session.expire_all()
    first = clerk.photo
    with stored_photo(app, clerk) as img:
        assert (img.format, img.size, img.mode) == ("JPEG", (600, 600), "RGB")
    upload(admin, clerk.id, image_bytes("WEBP"), "b.webp")
    db.session.expire_all()
    assert clerk.photo != first
    assert photos(app) == [clerk.photo]  # the replaced file is gone


def test_removing_the_photo_deletes_the_file(app, admin, clerk):
    upload(admin, clerk.id, image_bytes("JPEG"), "a.jpg")
    page = admin.get(f"/admin/manage/staff/{clerk.id}").get_data(as_text=True)
    admin.post(f"/admin/manage/staff/{clerk.id}/photo/delete",
               data={"csrf_token": csrf_token(page)})
    db.session.expire_all()
    assert clerk.photo is None and photos(app) == []


def test_an_upload_without_the_csrf_token_is_refused(app, admin, clerk):
    resp = upload(admin, clerk.id, image_bytes("JPEG"), "a.jpg", with_token=False)
    assert resp.status_code == 400
    db.session.expire_all()
    assert clerk.photo is None and photos(app) == []


def test_only_the_clerks_own_department_head_may_change_the_photo(app, login, clerk):
    make_window("B01", dept="税务局", staff_no="T001", staff_name="王芳")
    other = login("department", department="税务局")
    page = other.get("/admin/manage/staff").get_data(as_text=True)
    assert "王芳" in page and "张丽" not in page
    resp = other.post(f"/admin/manage/staff/{clerk.id}/photo",
                      data={"photo": (io.BytesIO(image_bytes("JPEG")), "a.jpg")},
                      content_type="multipart/form-data")
    assert resp.status_code == 403
    assert photos(app) == []


def test_a_decompression_bomb_is_refused_before_it_is_decoded(app):
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, "PNG")  # tiny file, 64 megapixels
    with pytest.raises(FieldError, match="像素过大"):
        staff_photos.reencode(out.getvalue())
