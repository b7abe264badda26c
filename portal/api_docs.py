"""Who may read the OpenAPI schema and the Swagger UI: signed-in users, or anyone if API_DOCS_PUBLIC.

Every portal account is clinic staff or an operator (patients never sign in), so "signed in" is
the staff rule. The setting is read on each request, not at import, so operators and tests can
change it without a restart of the URL configuration.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from rest_framework.permissions import BasePermission


def docs_are_open_to(user) -> bool:
    return settings.API_DOCS_PUBLIC or bool(user and user.is_authenticated)


class SchemaAccess(BasePermission):
    """drf-spectacular's SERVE_PERMISSIONS: token or session users, or anyone when the docs are public."""

    def has_permission(self, request, view) -> bool:
        return docs_are_open_to(request.user)


def sign_in_for_docs(view):
    """Send a browser that is not signed in to the sign-in page, then back to the docs."""

    @wraps(view)
    def docs(request, *args, **kwargs):
        if not docs_are_open_to(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return docs
