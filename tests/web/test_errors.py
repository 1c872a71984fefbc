"""Every bad input to the web demo is a 4xx with a clear message, and leaves no file behind (neither in the
per-request folders nor in the working folder)."""
import numpy as np
import pytest

from pipeline import serve

from .conftest import RANDOM_ID
from .helpers import dicom_bytes, npy_bytes, png_of, read_bytes, tree, upload


@pytest.fixture(scope="module")
def slice_png(demo_root):
    return read_bytes(serve.demo_samples(demo_root)["P010_00"].image)


def cases(png):
    """(what, form fields, expected status, words of the message)."""
    small_mask = png_of(np.zeros((64, 64), np.uint8))
    return [
        ("not an image", dict(image=upload(b"just some text\n" * 20, "notes.png")), 400, "not an image"),
        ("truncated PNG", dict(image=upload(png[:len(png) // 2], "cut.png")), 400, "cannot read image cut.png"),
        ("0-byte file", dict(image=upload(b"", "empty.png")), 400, "empty (0 bytes)"),
        ("unknown checkpoint", dict(checkpoint="unet/nothing-here", image=upload(png, "a.png")), 404,
         "unknown checkpoint 'unet/nothing-here'"),
        ("path as checkpoint id", dict(checkpoint="../../etc/passwd", image=upload(png, "a.png")), 404,
         "unknown checkpoint '../../etc/passwd'"),
        ("path as file name", dict(image=upload(png, "../../etc/passwd")), 400, "contains a path"),
        ("path as sample id", dict(sample="../../etc/passwd"), 404, "unknown sample"),
        ("mask of another size", dict(image=upload(png, "a.png"), mask=upload(small_mask, "m.png")), 400,
         "m.png is 64x64 but the image is 128x128"),
        ("mask with other labels", dict(image=upload(png, "a.png"),
                                        mask=upload(npy_bytes(np.full((128, 128), 7)), "m.npy")), 400,
         "label values [7] outside 0..1"),
        ("DICOM without pixel data", dict(image=upload(dicom_bytes(), "ct.dcm")), 400, "without pixel data"),
        ("a GIF", dict(image=upload(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a.gif")), 400, "not an image"),
        ("no checkpoint", dict(checkpoint="", image=upload(png, "a.png")), 400, "choose a checkpoint"),
        ("no image", dict(), 400, "upload an image"),
        ("bad window", dict(image=upload(png, "a.png"), window_center="40", window_width="-3"), 400,
         "positive width"),
        ("bad strength", dict(image=upload(png, "a.png"), phone_photo="1", strength="2"), 400, "in [0, 1]"),
    ]


@pytest.mark.parametrize("index", range(len(cases(b""))), ids=[c[0] for c in cases(b"")])
def test_bad_input_is_refused_cleanly(make_app, workdir, slice_png, index):
    what, fields, status, words = cases(slice_png)[index]
    before = tree(workdir)
    answer = make_app().test_client().post("/api/segment", data={"checkpoint": RANDOM_ID, **fields},
                                           content_type="multipart/form-data")
    assert answer.status_code == status, (what, answer.get_json())
    message = answer.get_json()["error"]
    assert words in message, message
    assert "/tmp" not in message and "jmedseg-request" not in message  # no server path shown
    assert list(make_app.requests.iterdir()) == []
    assert tree(workdir) == before


def test_upload_above_the_limit(make_app, workdir, slice_png):
    before = tree(workdir)
    client = make_app(max_upload_mb=0.01).test_client()
    answer = client.post("/api/segment", data=dict(checkpoint=RANDOM_ID, image=upload(b"\0" * 20000, "big.png")),
                         content_type="multipart/form-data")
    assert answer.status_code == 413
    assert answer.get_json()["error"].startswith("the upload is larger than the 0.01 MB limit")
    assert list(make_app.requests.iterdir()) == [] and tree(workdir) == before


def test_errors_of_pages_are_html(client):
    answer = client.get("/runs/../../etc/passwd/curves.png")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    page = client.get("/samples/nothing.png")
    assert page.status_code == 404 and "unknown sample &#39;nothing&#39;" in page.get_data(as_text=True)
    api = client.get("/api/segment")
    assert api.status_code == 405 and "error" in api.get_json()
