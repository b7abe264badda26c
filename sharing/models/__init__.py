"""The portal's data: clinics (tenants) and their staff, the exams they hold, and shares."""

from .clinics import Clinic, DicomDevice, Membership
from .shares import PasscodeAttempts, Share, ShareEvent, ShareExclusion, ShareItem, ShareToken
from .studies import Document, Instance, Series, Study

__all__ = [
    "Clinic", "DicomDevice", "Membership", "Study", "Series", "Instance", "Document",
    "Share", "ShareToken", "PasscodeAttempts", "ShareItem", "ShareExclusion", "ShareEvent",
]
