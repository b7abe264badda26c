class RejectedFile(Exception):
    """One input file was refused; the message is the reason shown to the sender.

    Reasons never quote values from inside the file, so they cannot leak a patient identifier.
    """


class IngestDefect(Exception):
    """Our own code failed on one file (a defect, not bad input); logged under ``reference``.

    The message is the sentence staff see, with the reference to give support.
    """

    def __init__(self, sentence: str, reference: str):
        super().__init__(sentence)
        self.reference = reference


class UploadTooLarge(Exception):
    """A request body passed MAX_UPLOAD_BYTES while it streamed in; the whole request is refused (413)."""

    def __init__(self, limit: int):
        super().__init__(f"the upload is larger than the {limit // (1024 * 1024)} MiB limit per request")
        self.limit = limit
