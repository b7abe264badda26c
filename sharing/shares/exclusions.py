"""Which instances a share leaves out, and why (staff review these on the study page)."""

from __future__ import annotations

from ..models import Instance, Share, ShareExclusion
from .lease import write_while_held

def exclude(share: Share, instance: Instance, reason: str, *, owner: str, acceptable: bool = False) -> None:
    """Record why an instance is left out, while run `owner` holds the share's lease (else
    LeaseLost). An accepted image that fails for another reason is excluded again, for that
    reason, so it is not retried forever."""
    write_while_held(share, owner, lambda: ShareExclusion.objects.update_or_create(
        share=share, instance=instance,
        defaults={"reason": reason[:300], "acceptable": acceptable, "accepted_at": None, "accepted_by": None},
    ))


def pending_instances(share: Share) -> list[Instance]:
    """The share's instances with neither an item nor an open exclusion, in page order."""
    done = set(share.items.exclude(instance=None).values_list("instance_id", flat=True))
    excluded = set(share.exclusions.filter(accepted_at__isnull=True).exclude(instance=None).values_list("instance_id", flat=True))
    instances = share.instances.order_by(*Instance.PAGE_ORDER)
    return [i for i in instances if i.pk not in done and i.pk not in excluded]
