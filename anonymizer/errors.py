"""The one exception the package raises for a file it cannot anonymize."""


class AnonymizationError(Exception):
    """This input cannot be anonymized safely; the message says why, for the operator."""
