"""Chromium (Debian's, never a downloaded one) driven by Playwright against a live server.

The browser fixtures live in tests/conftest.py: one Playwright per session, since a second
sync_playwright() in the same thread refuses to start while the first one's loop runs."""

import os


# Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test body are
# still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
