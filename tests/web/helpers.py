"""Small builders the web tests share: PNG decoding, uploads, DICOM files, a snapshot of a folder tree."""
import base64
import io
import os

import cv2
import numpy as np


def decode_png(text):
    """The array of a base64 PNG of the API (as cv2 reads files: BGR for colour)."""
    return cv2.imdecode(np.frombuffer(base64.b64decode(text), np.uint8), cv2.IMREAD_UNCHANGED)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def upload(data, name):
    """A multipart file field for the Flask test client."""
    return io.BytesIO(data), name


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def png_of(array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def dicom_bytes(grey=None, window=(103.5, 255.0)):
    """A CT DICOM file whose stored values are ``grey + 1000`` with intercept -1024, so that its window
    (default centre 103.5, width 255: -24..231 HU) gives back ``grey`` exactly; without ``grey``, a DICOM
    without pixel data."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
    if grey is not None:
        ds.Rows, ds.Columns = grey.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = window
        ds.PixelData = (grey.astype(np.int16) + 1000).astype("<i2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def tree(folder):
    """Every file under ``folder`` with its size and modification time."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(dirpath, n)
            st = os.stat(p)
            out[os.path.relpath(p, folder)] = (st.st_size, st.st_mtime_ns)
    return out
