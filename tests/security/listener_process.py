"""The DICOM listener as its own process (`manage.py dicom_listener`), as production runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.conftest import ROOT, free_port, wait_until, worker_env
from tests.security.doors import peak_rss


class ListenerProcess:
    def __init__(self, log_path: Path, **env):
        self.port = free_port()
        self.tls_port = free_port()
        self.log_path = log_path
        self.env = worker_env(**{k: str(v) for k, v in env.items()})
        self.process: subprocess.Popen | None = None

    def start(self, *, wait_for_echo: bool = True) -> "ListenerProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(self.port),
                 "--tls-port", str(self.tls_port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait_for_echo:
            wait_until(lambda: self.echo() or self.process.poll() is not None, timeout=60,
                       what="the listener to answer C-ECHO")
            assert self.process.poll() is None, "the listener exited:\n" + self.log()
        return self

    def echo(self) -> bool:
        ae = AE(ae_title="PROBE")
        ae.acse_timeout = ae.network_timeout = 5
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", self.port, ae_title="PORTAL")
        if not assoc.is_established:
            return False
        try:
            return assoc.send_c_echo().get("Status") == 0
        finally:
            assoc.release()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peak_rss(self) -> int:
        """The listener's high-water mark of resident memory (VmHWM), in bytes."""
        return peak_rss(self.process.pid)
