"""The four ingest doors driven from outside, with large objects that never sit in memory.

Shared by tests/security/test_ingest_limits.py and bench/bench_ingest_memory.py: a DICOM object of a
chosen size written to disk frame by frame, multipart bodies read from that file as they are sent,
gunicorn and the DICOM listener as real processes whose peak memory (VmHWM) can be read.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = "PoRtAlDoOrS"
FRAME = (480, 640)  # rows, columns of an RGB ultrasound frame
FRAME_BYTES = FRAME[0] * FRAME[1] * 3


def us_header(frames: int) -> Dataset:
    """A multi-frame RGB ultrasound data set without its pixel data, with a known patient."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = pydicom.uid.UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "DOE^JANE", "PID-4711", "US"
    ds.Rows, ds.Columns = FRAME
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.NumberOfFrames = frames
    return ds


def write_us_object(path: Path, frames: int, *, padding: str = "", header: Dataset | None = None) -> Path:
    """Write a Part 10 file of `frames` RGB frames, streaming the pixel data frame by frame."""
    ds = header if header is not None else us_header(frames)
    ds.NumberOfFrames = frames
    # Padding to reach an exact size: a private OB value (LT and other text VRs have maximum lengths).
    ds.private_block(0x0029, "PORTAL TEST PADDING", create=True).add_new(0x10, "OB", padding.encode())
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    length = frames * FRAME_BYTES
    frame = np.full(FRAME_BYTES, 60, dtype=np.uint8).tobytes()
    with open(path, "wb") as out:
        out.write(buffer.getvalue())
        # (7FE0,0010) OB, explicit VR little endian: tag, VR, 2 reserved bytes, 4-byte length.
        out.write(b"\xe0\x7f\x10\x00OB\x00\x00" + length.to_bytes(4, "little"))
        for _ in range(frames):
            out.write(frame)
    return path


def object_of_size(path: Path, size: int) -> Path:
    """A Part 10 file of exactly `size` bytes (even, as DICOM values are): frames plus private padding."""
    assert size % 2 == 0, "DICOM files have even sizes"
    header = us_header(1)
    fixed = write_us_object(path, 1, header=header).stat().st_size - FRAME_BYTES
    frames = max(1, (size - fixed) // FRAME_BYTES)
    rest = size - fixed - frames * FRAME_BYTES
    assert rest >= 0
    # NumberOfFrames is IS: its text grows with the count; the padding absorbs the difference.
    write_us_object(path, frames, padding="x" * rest, header=header)
    rest -= path.stat().st_size - size
    write_us_object(path, frames, padding="x" * rest, header=header)
    assert path.stat().st_size == size, (path.stat().st_size, size)
    return path


def received_size(path: Path) -> int:
    """The size of the Part 10 file the listener writes for this object sent by C-STORE: its own
    file meta (pynetdicom's) and the data set as the sender encodes it."""
    from pydicom.filewriter import write_file_meta_info
    from pynetdicom.dsutils import create_file_meta

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    meta = io.BytesIO()
    write_file_meta_info(meta, create_file_meta(
        sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID, transfer_syntax=ExplicitVRLittleEndian))
    with open(path, "rb") as fh:
        fh.seek(132)
        pydicom.filereader._read_file_meta_info(fh)
        dataset_bytes = path.stat().st_size - fh.tell()
    return 132 + len(meta.getvalue()) + dataset_bytes


class FileBody:
    """A request body of head + file + tail, read as it is sent, with a known length."""

    def __init__(self, head: bytes, path: Path, tail: bytes):
        self.parts = [io.BytesIO(head), open(path, "rb"), io.BytesIO(tail)]
        self.length = len(head) + path.stat().st_size + len(tail)

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            data = self.parts[0].read(size if size and size > 0 else 1024 * 1024)
            if data:
                return data
            self.parts.pop(0).close()
        return b""


def form_body(path: Path) -> tuple[FileBody, str]:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="exam.dcm"\r\n'
            "Content-Type: application/dicom\r\n\r\n").encode()
    return FileBody(head, path, f"\r\n--{BOUNDARY}--\r\n".encode()), f"multipart/form-data; boundary={BOUNDARY}"


def stow_body(path: Path) -> tuple[FileBody, str]:
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return (FileBody(head, path, f"\r\n--{BOUNDARY}--\r\n".encode()),
            f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')


def send_api(base: str, token: str, path: Path) -> requests.Response:
    body, content_type = form_body(path)
    return requests.post(f"{base}/api/v1/studies/", data=body, timeout=600,
                         headers={"Authorization": f"Token {token}", "Content-Type": content_type})


def send_stow(base: str, token: str, path: Path, *, study_uid: str | None = None) -> requests.Response:
    body, content_type = stow_body(path)
    url = f"{base}/dicomweb/studies" + (f"/{study_uid}" if study_uid else "")
    return requests.post(url, data=body, timeout=600,
                         headers={"Authorization": f"Token {token}", "Content-Type": content_type})


def staff_session(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=30)
    response = session.post(f"{base}/login/", timeout=30, data={
        "username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert response.url.endswith("/studies/"), "the staff user signs in"
    return session


def send_upload(session: requests.Session, base: str, path: Path) -> requests.Response:
    body, content_type = form_body(path)
    return session.post(f"{base}/upload/", data=body, timeout=600, headers={
        "Content-Type": content_type, "X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/studies/"})


def send_cstore(port: int, path: Path, *, calling: str = "US_ROOM_1"):
    """dcmtk's storescu, as a modality would send; returns the completed process (output in stdout)."""
    return subprocess.run(
        ["storescu", "-xe", "-aet", calling, "-aec", "PORTAL", "-to", "60", "-ta", "60", "-td", "600",
         "127.0.0.1", str(port), str(path)],
        capture_output=True, text=True, timeout=900,
    )


def peak_rss(pid: int) -> int:
    """A process's high-water mark of resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class Gunicorn:
    """gunicorn with one worker process, as the web doors' memory is that process's."""

    def __init__(self, env: dict, port: int, log_path: Path):
        self.port, self.url, self.log_path = port, f"http://127.0.0.1:{port}", log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application",
                 "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "600"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.url + "/healthz", timeout=5)
                return
            except requests.RequestException:
                assert self.process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.3)

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, f"expected one gunicorn worker, found {children}"
        return int(children[0])

    def peak_rss(self) -> int:
        return peak_rss(self.worker_pid())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
