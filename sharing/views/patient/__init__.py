"""The patient's side, by job: `access` (the link and passcode rule every response goes through),
`pages` (the landing page, its assets, the "opened" beacon, the clinic logo), `lockout` (the
passcode page) and `zip` (everything in one streamed ZIP)."""

from .access import find_token
from .lockout import passcode
from .pages import asset, clinic_logo, landing, opened
from .zip import download_all

__all__ = ["asset", "clinic_logo", "download_all", "find_token", "landing", "opened", "passcode"]
