"""The Celery worker logs through Django's LOGGING, so its lines are redacted like the web's."""

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import logging
import django
django.setup()
from portal.celery import app
app.log.setup(loglevel="INFO", redirect_stdouts=False)  # what `celery worker` does at start
logging.getLogger("celery.worker").warning("opened /p/SECRETTOKEN1234567890abcdef for jane.patient@example.org")
"""


def test_worker_log_lines_pass_the_redacting_filter():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "opened /p/[redacted]" in output, output
    assert "SECRETTOKEN" not in output and "jane.patient@example.org" not in output
