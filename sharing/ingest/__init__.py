"""Ingest: every door (web upload, REST, STOW-RS, C-STORE) ends in `ingest_candidates`."""

from .errors import IngestDefect, RejectedFile
from .service import IngestReport, ingest_candidates, ingest_dicom_file, ingest_uploads
from .sources import Candidate

__all__ = ["Candidate", "IngestDefect", "IngestReport", "RejectedFile", "ingest_candidates", "ingest_dicom_file", "ingest_uploads"]
