"""What every delivery channel declares and does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.template.loader import render_to_string

if TYPE_CHECKING:
    from ...models import Clinic, Share


class TransientDeliveryError(Exception):
    """Retrying later may succeed (a server down, a timeout, a 4xx from SMTP)."""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (address refused, number invalid, credentials wrong)."""


class Channel:
    """A way to bring the patient their link.

    Attributes
    ----------
    name : str
        Stored in ``Share.channel`` and taken by the API's ``channel``; at most 8 characters.
    label : str
        What staff read.
    contact_field : str
        The request field holding the contact: ``"email"`` or ``"phone"``.
    templates : dict
        Template names by part (``"body"``, ``"subject"``, ``"html"``), rendered with `context`.
    missing_contact_message : str
        Shown when the channel is chosen but its contact field is empty.
    """

    name = ""
    label = ""
    contact_field = ""
    templates: dict[str, str] = {}
    missing_contact_message = ""

    def normalize(self, value: str, clinic: "Clinic") -> str:
        """Return the contact in its canonical form, or raise ValidationError with a sentence."""
        raise NotImplementedError

    def mask(self, contact: str) -> str:
        """What staff see of the contact: enough to recognise it, not enough to read it."""
        raise NotImplementedError

    def send(self, share: "Share", contact: str, link: str, key: str) -> None:
        """Send the link once; `key` is the same for every retry of this delivery (idempotency).

        Raises PermanentDeliveryError or TransientDeliveryError.
        """
        raise NotImplementedError

    def context(self, share: "Share", link: str) -> dict:
        """What the templates see: the clinic and the link, never the patient."""
        clinic = share.clinic
        return {
            "clinic_name": clinic.name,
            "clinic_message": clinic.message,
            "logo_url": f"{settings.PUBLIC_URL}/branding/{clinic.pk}/logo" if clinic.logo else "",
            "link": link,
            "expires_at": share.expires_at,
            "needs_passcode": share.needs_passcode,
        }

    def render(self, part: str, context: dict) -> str:
        return render_to_string(self.templates[part], context)
