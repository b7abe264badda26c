"""A bug is not bad input: how an exception from our own code is recorded and reported.

Bad input (a truncated file, a value pydicom cannot parse, a codestream a
decoder refuses) is :class:`~anonymizer.errors.AnonymizationError` and the
file is *rejected* with its reason.  Anything else raised while a file is
processed is a defect of this code: it is logged once, with its stack, under a
short reference, and the person who sees the outcome gets a plain sentence
with that reference to give support.

The log line carries no identifier: neither the exception's message (which
may quote a value from the file, or its path) nor the source path, only the
exception's type and the stack frames (file, line, function of our code).
"""

from __future__ import annotations

import logging
import re
import secrets
import traceback

log = logging.getLogger("anonymizer.defects")

DEFECT_SENTENCE = (
    "The portal could not process this image because of an internal error (reference {reference}). "
    "Nothing was stored for it. Please give this reference to support."
)


def new_reference() -> str:
    """A short reference staff can read out over the phone, e.g. ``ERR-7F3A9C2B``."""
    return "ERR-" + secrets.token_hex(4).upper()


def identifier_free_traceback(exc: BaseException) -> str:
    """The stack of ``exc`` and its causes, without any exception message.

    Messages are left out because they may quote values read from the file
    (a patient name in a ``KeyError``) or the source path.
    """
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(f"{type(current).__module__}.{type(current).__qualname__} (message withheld)")
        lines.extend(line.rstrip("\n") for line in traceback.format_tb(current.__traceback__))
        current = current.__cause__ or current.__context__
    return "\n".join(lines)


def report_defect(exc: BaseException, *, where: str, logger: logging.Logger | None = None) -> str:
    """Log ``exc`` as a defect of this code and return its reference.

    Parameters
    ----------
    exc : BaseException
        The unexpected exception.
    where : str
        What was being done, without identifiers (``"anonymizing an instance"``).
    logger : logging.Logger, optional
        Where to log; this module's logger by default.

    Returns
    -------
    str
        The reference written in the log line, for the caller's message.
    """
    reference = new_reference()
    (logger or log).error("defect %s while %s: %s\n%s", reference, where, type(exc).__name__,
                          identifier_free_traceback(exc))
    return reference


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def library_words(exc: BaseException, *, fallback: str) -> str:
    """What a library (pydicom, a decoder) said about bad input, for a rejection reason.

    One short line, without quoted text: parsers quote the offending value,
    which may be a name.  Never a bare exception class name.
    """
    text = " ".join(_QUOTED.sub("(value withheld)", str(exc)).split())[:200]
    return text or fallback


# Where an exception must come from to count as the input's fault: the DICOM reader and the
# pixel decoders parse the file's bytes. An exception whose innermost frame is in our own code
# is a defect, even when a file's value provoked it: our code must check values it relies on.
PARSER_MODULES = ("pydicom", "pylibjpeg", "openjpeg", "libjpeg", "rle", "jpeg_ls", "PIL", "simplejpeg", "imagecodecs")


def raised_while_parsing(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside a parser of the input (see :data:`PARSER_MODULES`)."""
    traceback_ = exc.__traceback__
    if traceback_ is None:
        return False
    while traceback_.tb_next is not None:
        traceback_ = traceback_.tb_next
    module = str(traceback_.tb_frame.f_globals.get("__name__", ""))
    return module.split(".")[0] in PARSER_MODULES


def defect_sentence(reference: str) -> str:
    """What staff read for an internal error: a sentence and the reference, no exception name."""
    return DEFECT_SENTENCE.format(reference=reference)
