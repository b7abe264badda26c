"""Staff sign-in lockout rules for django-axes: each lockout parameter set has its own limit.

django-axes counts failures per parameter set (``AXES_LOCKOUT_PARAMETERS``) but compares them all
with one ``AXES_FAILURE_LIMIT``. We want two rules (``settings.AXES_LOCKOUT_RULES``): a username
from one address locks after a few failures, and one address locks across usernames (password
spraying) after more, because a clinic's staff share one NAT address and mistype too.
"""

from __future__ import annotations

from axes.conf import settings
from axes.handlers.database import AxesDatabaseHandler
from django.db.models import Sum


class LockoutPerRuleHandler(AxesDatabaseHandler):
    """The database handler, with one failure limit per entry of ``AXES_LOCKOUT_RULES``."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """Failures, expressed against ``AXES_FAILURE_LIMIT``: the rule closest to its own limit decides.

        Axes locks when this reaches AXES_FAILURE_LIMIT. A rule with limit ``L`` and ``n``
        failures reports ``n - L + AXES_FAILURE_LIMIT``, which reaches it exactly when ``n``
        reaches ``L``, so axes' own comparisons (before the view and after a failure) apply each
        rule's limit.
        """
        limits = [limit for _, limit in settings.AXES_LOCKOUT_RULES]
        counted = [
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        return max(
            (failures - limit + settings.AXES_FAILURE_LIMIT for failures, limit in zip(counted, limits)),
            default=0,
        )

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """A sign-in proves only its own account: clear that username's failures from this address.

        Axes would also clear every failure counted by address, so anyone with one valid account
        could sign in between guesses and spray other usernames without end.
        """
        first_rule = self.filter_user_attempts(request, credentials)[:1]
        return sum(attempts.delete()[0] for attempts in first_rule)
