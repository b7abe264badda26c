"""The one exception the preview renderer raises for a bad instance."""


class PreviewError(Exception):
    """An instance could not be rendered; the others still can be.

    The message says why (unsupported transfer syntax, undecodable frame,
    ffmpeg's own diagnostic...). It never contains the source path: file
    names written by modalities may carry the patient's name.

    Parameters
    ----------
    reason : str
        What went wrong, in words an operator can act on.
    stem : str, optional
        The caller's identifier-free name for the instance, when known.
    reference : str, optional
        Set when the failure is a defect of the renderer (not the input's
        fault): the reference it was logged under; ``reason`` is then the
        sentence staff see.
    """

    def __init__(self, reason: str, *, stem: str | None = None, reference: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stem = stem
        self.reference = reference

    def __str__(self) -> str:
        return f"{self.stem}: {self.reason}" if self.stem else self.reason


class NotAnImage(PreviewError):
    """The file is not DICOM, or is DICOM without pixel data (a report, a plan).

    There is nothing to preview: callers walking a folder or an exam may
    skip such files instead of counting them as failures.
    """
