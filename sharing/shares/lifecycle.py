"""A share's life: the only code that changes its status, step, generation and delivered state.

Statuses (``Share.Status``)::

    (created) ──> queued ──started──> processing ──prepared──> deliver stage ──delivered──> sent
                    ^                     │                          │
                    │                     └─nothing_to_share─┐       ├─delivery_deferred (retry later)
                    │                                        v       └─delivery_failed──> failed
                    ├──────────── resent (from any status) ── failed <──gave_up (sweep)
                    └──────────── exclusion_accepted (failed → queued; other statuses stay)

    revoked is not a status: it sets ``revoked_at`` on a share in any status; resent clears it.

`TRANSITIONS` is the table: for each event, the statuses it moves from, the status it moves to,
the step staff see, what happens to the contact, and which stage runs next. The functions below
are the small engine that applies it; tasks, views, the sweep and the patient page call them, and
so do the tests and the load benchmark (`run_here`), so all of them take the production path.

The contact rule (one rule for every failure): the portal holds the patient's contact, encrypted,
only while a message may still go out without staff typing it again. A failure therefore erases
it, unless staff can still complete the share by accepting an excluded image (an acceptable
exclusion is open): then it is held until they accept (delivery follows), resend, revoke, or the
link expires (the sweep erases it then). Delivery and revocation always erase it.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import BinaryField, Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from ..models import Share, ShareEvent, ShareExclusion
from .lease import LeaseLost, lease_expiry

log = logging.getLogger(__name__)

S = Share.Status
# How many times a deferred delivery is tried again before the share fails, visibly.
DELIVERY_RETRIES = 8


class Stage(enum.StrEnum):
    """The pipeline's stages; each runs as one Celery task (see sharing/tasks.py)."""

    PREPARE = "prepare"
    DELIVER = "deliver"


class Step(enum.StrEnum):
    """What staff see the pipeline doing now (``Share.step``); empty when it rests."""

    NONE = ""
    ANONYMIZING = "anonymizing"
    RENDERING = "rendering"
    PUBLISHING = "publishing"
    DELIVERING = "delivering"
    WAITING_TO_RETRY = "waiting to retry delivery"


class Contact(enum.Enum):
    KEEP = "keep"
    ERASE = "erase"
    FAILURE_RULE = "erased unless an acceptable exclusion is open"  # see the module docstring


class Event(enum.StrEnum):
    CREATED = "created"
    STARTED = "started"
    PREPARED = "prepared"
    NOTHING_TO_SHARE = "nothing_to_share"
    DELIVERED = "delivered"
    DELIVERY_DEFERRED = "delivery_deferred"
    DELIVERY_FAILED = "delivery_failed"
    REDISPATCHED = "redispatched"
    GAVE_UP = "gave_up"
    REVOKED = "revoked"
    RESENT = "resent"
    EXCLUSION_ACCEPTED = "exclusion_accepted"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Transition:
    """One row of the table. The status moves to `target` only from one of `sources`; a share in
    another status keeps it (the rest of the row still applies). `step` None leaves the step."""

    sources: frozenset[str]
    target: str | None
    step: Step | None
    contact: Contact
    then: Stage | None
    audit: str | None


ANY = frozenset(S.values)
RUNNING = frozenset({S.QUEUED, S.PROCESSING})

TRANSITIONS: dict[Event, Transition] = {
    #                                   from               to            step                  contact               then            audit event
    Event.CREATED:            Transition(ANY,              S.QUEUED,     Step.NONE,            Contact.KEEP,         Stage.PREPARE,  ShareEvent.Kind.CREATED),
    Event.STARTED:            Transition(frozenset({S.QUEUED}), S.PROCESSING, None,            Contact.KEEP,         None,           None),
    Event.PREPARED:           Transition(ANY,              None,         None,                 Contact.KEEP,         Stage.DELIVER,  ShareEvent.Kind.PROCESSED),
    Event.NOTHING_TO_SHARE:   Transition(RUNNING,          S.FAILED,     Step.NONE,            Contact.FAILURE_RULE, None,           ShareEvent.Kind.FAILED),
    Event.DELIVERED:          Transition(ANY,              S.SENT,       Step.NONE,            Contact.ERASE,        None,           ShareEvent.Kind.DELIVERED),
    Event.DELIVERY_DEFERRED:  Transition(ANY,              None,         Step.WAITING_TO_RETRY, Contact.KEEP,        Stage.DELIVER,  None),
    Event.DELIVERY_FAILED:    Transition(ANY - {S.SENT},   S.FAILED,     Step.NONE,            Contact.FAILURE_RULE, None,           ShareEvent.Kind.FAILED),
    Event.REDISPATCHED:       Transition(RUNNING,          None,         None,                 Contact.KEEP,         Stage.PREPARE,  None),
    Event.GAVE_UP:            Transition(RUNNING,          S.FAILED,     Step.NONE,            Contact.FAILURE_RULE, None,           ShareEvent.Kind.FAILED),
    Event.REVOKED:            Transition(ANY,              None,         None,                 Contact.ERASE,        None,           ShareEvent.Kind.REVOKED),
    Event.RESENT:             Transition(ANY,              S.QUEUED,     Step.NONE,            Contact.KEEP,         Stage.PREPARE,  ShareEvent.Kind.RESENT),
    Event.EXCLUSION_ACCEPTED: Transition(frozenset({S.FAILED}), S.QUEUED, None,                Contact.KEEP,         Stage.PREPARE,  ShareEvent.Kind.ACCEPTED),
    Event.EXPIRED:            Transition(ANY,              None,         None,                 Contact.ERASE,        None,           None),
}


@dataclass(frozen=True)
class Next:
    """What runs next for a share: `stage` in `countdown` seconds, or nothing (stage None)."""

    stage: Stage | None = None
    countdown: int = 0


NOTHING = Next()


# -- the engine ---------------------------------------------------------------------------------

def open_review():
    """True for a share with an acceptable exclusion staff have not accepted yet."""
    return Exists(ShareExclusion.objects.filter(share=OuterRef("pk"), acceptable=True, accepted_at__isnull=True))


def apply(share: Share, event: Event, *, error: str | None = None, user=None, detail: str = "",
          only: Q | None = None, **fields) -> bool:
    """Apply one row of `TRANSITIONS` to `share` in a single UPDATE, and record its audit event.

    Parameters
    ----------
    share : Share
        The share; only its pk is read.
    event : Event
        The row to apply.
    error : str, optional
        The reason staff read (failures); cleared for any row that moves the status elsewhere.
    only : Q, optional
        An extra condition on the row (a lease owner); when it does not hold, nothing is written.
    fields
        Other columns the event sets with it (delivered_generation, progress ...).

    Returns
    -------
    bool
        Whether the row was written.
    """
    rule = TRANSITIONS[event]
    now = timezone.now()
    updates = {"updated_at": now, **fields}
    if rule.target is not None:
        moves = When(status__in=sorted(rule.sources), then=Value(rule.target))
        updates["status"] = Case(moves, default=F("status"))
        if rule.target == S.FAILED:
            updates["error"] = Case(When(status__in=sorted(rule.sources), then=Value((error or "")[:500])), default=F("error"))
        else:
            updates["error"] = Case(When(status__in=sorted(rule.sources), then=Value("")), default=F("error"))
    if rule.step is not None:
        updates["step"] = rule.step.value
    if rule.contact is Contact.ERASE:
        updates["delivery_secret"] = None
    elif rule.contact is Contact.FAILURE_RULE:
        updates["delivery_secret"] = Case(When(open_review(), then=F("delivery_secret")), default=Value(None),
                                          output_field=BinaryField(null=True))
    query = Share.objects.filter(pk=share.pk)
    if only is not None:
        query = query.filter(only)
    written = query.update(**updates) == 1
    if written and rule.audit:
        ShareEvent.objects.create(share_id=share.pk, kind=rule.audit, user=user,
                                  detail=(detail or (error or ""))[:300])
    return written


def dispatch(share: Share, stage: Stage = Stage.PREPARE) -> None:
    """Enqueue `stage` once the transaction commits. If the broker is down the share stays queued
    in the database (our transactional outbox) and the sweep dispatches it when the broker is back."""
    from ..tasks import enqueue

    share_id, generation = share.pk, share.generation

    def send():
        try:
            enqueue(stage, share_id, generation, retry=False)
        except Exception as exc:  # kombu raises OperationalError and friends
            log.warning("share %s not dispatched, broker unavailable (%s); the sweep will retry",
                        share_id, exc.__class__.__name__)
            return
        Share.objects.filter(pk=share_id).update(dispatched_at=timezone.now())

    transaction.on_commit(send, robust=True)


# -- staff and integrations ---------------------------------------------------------------------

def created(share: Share, *, user=None) -> None:
    """A new share row starts its pipeline. The row was just inserted in the CREATED row's state
    (the model's defaults: queued, no step, no error), so only the audit event is written."""
    ShareEvent.objects.create(share=share, kind=TRANSITIONS[Event.CREATED].audit, user=user)
    dispatch(share)


def revoke(share: Share, *, user=None) -> Share:
    """Kill the link at once; nothing will be delivered now, so the contact goes too."""
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share.pk)
        if share.revoked_at is None:
            apply(share, Event.REVOKED, user=user, revoked_at=timezone.now())
            share.refresh_from_db()
    return share


def resend(share: Share, *, channel: str, contact_masked: str, delivery_secret: bytes, expires_at: dt.datetime,
           user=None) -> None:
    """A new generation for a locked share: queued again, with a new sealed contact and link
    expiry, not revoked, and its pipeline dispatched. Tasks of older generations do nothing."""
    apply(share, Event.RESENT, user=user, generation=F("generation") + 1, channel=channel,
          contact_masked=contact_masked, delivery_secret=delivery_secret, expires_at=expires_at, revoked_at=None)
    share.refresh_from_db()
    dispatch(share)


def exclusion_accepted(share: Share, *, user=None) -> None:
    """Staff accepted an excluded image: a failed share is queued again, and the pipeline runs to
    publish it (a delivered link simply shows it)."""
    apply(share, Event.EXCLUSION_ACCEPTED, user=user)
    dispatch(share)


# -- the pipeline -------------------------------------------------------------------------------

def started(share: Share) -> None:
    apply(share, Event.STARTED)


def report_step(share: Share, step: Step, *, owner: str, **progress) -> None:
    """Record progress while holding the lease; it also renews the lease and tells the sweep the
    share is alive. Raises LeaseLost when another run took the share over."""
    renewed = Share.objects.filter(pk=share.pk, lease_owner=owner).update(
        step=step.value, updated_at=timezone.now(), lease_until=lease_expiry(), **progress
    )
    if not renewed:
        raise LeaseLost


def prepared(share: Share, generation: int, *, items: int) -> Next:
    """The pipeline published `items` items. Deliver unless this generation went out already
    (items accepted after delivery simply join the page: the patient has the link)."""
    if not ShareEvent.objects.filter(share_id=share.pk, kind=ShareEvent.Kind.PROCESSED).exists():
        ShareEvent.objects.create(share_id=share.pk, kind=ShareEvent.Kind.PROCESSED, detail=f"{items} items")
    delivered = Share.objects.values_list("delivered_generation", flat=True).get(pk=share.pk)
    return Next(TRANSITIONS[Event.PREPARED].then) if delivered < generation else NOTHING


def nothing_to_share(share: Share) -> None:
    apply(share, Event.NOTHING_TO_SHARE, detail="every image was excluded",
          error="Nothing could be shared: every image was excluded. Review the exclusions.")


def delivering(share: Share) -> None:
    Share.objects.filter(pk=share.pk).update(step=Step.DELIVERING.value)


def delivered(share: Share, generation: int, *, channel_label: str) -> None:
    """The message for `generation` went out: sent, and the contact and token are erased."""
    apply(share, Event.DELIVERED, detail=channel_label, delivered_generation=generation, delivered_at=timezone.now())


def delivery_deferred(share: Share, *, attempt: int, reason: str) -> Next:
    """A transient failure: retry with exponential backoff (capped at 10 minutes), or fail the
    share after DELIVERY_RETRIES retries."""
    if attempt >= DELIVERY_RETRIES:
        fail(share, f"gave up after {DELIVERY_RETRIES} attempts: {reason}")
        return NOTHING
    countdown = min(600, int(settings.DELIVERY_RETRY_BASE_SECONDS) * 2 ** attempt)
    log.warning("share %s delivery deferred (%s); retry in %ss", share.pk, reason, countdown)
    # dispatched_at in the future keeps the sweep from starting a second chain meanwhile.
    now = timezone.now()
    apply(share, Event.DELIVERY_DEFERRED, dispatched_at=now + dt.timedelta(seconds=countdown))
    return Next(TRANSITIONS[Event.DELIVERY_DEFERRED].then, countdown)


def fail(share: Share, reason: str) -> None:
    """Delivery cannot succeed: staff see the reason; the contact follows the failure rule."""
    apply(share, Event.DELIVERY_FAILED, error=reason)
    log.warning("share %s failed: %s", share.pk, reason)


# -- the stages: what Celery tasks, tests and benchmarks run ------------------------------------

def prepare(share_id: int, generation: int) -> Next:
    """Run the prepare stage (anonymize, render, publish) and say what follows."""
    from .pipeline import prepare_share

    return prepare_share(share_id, generation)


def deliver(share_id: int, generation: int, *, attempt: int = 0) -> Next:
    """Run the deliver stage for `generation`; `attempt` counts earlier deferred tries."""
    from ..delivery.service import PermanentDeliveryError, TransientDeliveryError, deliver_share

    try:
        deliver_share(share_id, generation)
    except PermanentDeliveryError as exc:
        fail(Share(pk=share_id), str(exc))
    except TransientDeliveryError as exc:
        return delivery_deferred(Share(pk=share_id), attempt=attempt, reason=str(exc))
    return NOTHING


STAGES = {Stage.PREPARE: prepare, Stage.DELIVER: deliver}


def run_here(share_id: int, generation: int, stage: Stage = Stage.PREPARE) -> Next:
    """Run the stages in this process, one after the other, as the workers would.

    Tests and benchmarks use it; it follows what each stage says comes next and stops at the
    first follow-up that must wait (a busy share, a deferred delivery), which it returns.
    """
    follow = Next(stage)
    while follow.stage is not None and follow.countdown == 0:
        follow = STAGES[follow.stage](share_id, generation)
    return follow


# -- the sweep -----------------------------------------------------------------------------------

def redispatched(share: Share) -> None:
    """The sweep found the share stuck and starts its pipeline again (it is idempotent)."""
    apply(share, Event.REDISPATCHED, dispatched_at=timezone.now(), sweep_count=F("sweep_count") + 1)
    dispatch(share)


def gave_up(share: Share, reason: str) -> None:
    apply(share, Event.GAVE_UP, error=reason)
    log.warning("share %s failed: %s", share.pk, reason)


def erase_expired_contacts() -> int:
    """A link that has ended is never delivered: erase the contact any such share still holds."""
    # The EXPIRED row, for all of them in one UPDATE; updated_at stays, so the sweep's view of stuck
    # shares is unchanged.
    return Share.objects.filter(expires_at__lte=timezone.now(), delivery_secret__isnull=False).update(delivery_secret=None)
