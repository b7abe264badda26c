"""Reads: what a staff user may see. Every query starts from the user's clinics, so another
clinic's rows are never found (a foreign id is a 404, indistinguishable from a missing one)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Clinic, Instance, Study


MAX_SEARCH_LENGTH = 200


def clinics_for_user(user) -> QuerySet[Clinic]:
    if not user.is_authenticated:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user)


def studies_for_user(user, *, search: str = "") -> QuerySet[Study]:
    """The study list: the user's clinics' studies, newest first, optionally searched by name or ID."""
    studies = Study.objects.filter(clinic__in=clinics_for_user(user).values("pk"))
    # PostgreSQL text cannot hold NUL; a search for one matches nothing, so it is dropped.
    search = search.replace("\x00", "").strip()[:MAX_SEARCH_LENGTH]
    if search:
        # Names are stored "Family, Given"; let "doe jane", "Doe^Jane" and "jane" all match.
        terms = search.replace("^", " ").replace(",", " ").split()
        name_match = Q()
        for term in terms:
            name_match &= Q(patient_name__icontains=term)
        studies = studies.filter(name_match | Q(patient_id__iexact=search) | Q(patient_id__istartswith=search))
    return studies.order_by("-created_at", "-id")


def patients_for_user(user, *, search: str = ""):
    """The Patients tab: one row per patient (clinic + ID + name), with their latest study."""
    from django.db.models import Count, Max

    return (
        studies_for_user(user, search=search)
        .order_by()
        .values("clinic_id", "patient_id", "patient_name")
        .annotate(
            patient_birth_date=Max("patient_birth_date"),
            patient_sex=Max("patient_sex"),
            study_count=Count("id"),
            last_study_at=Max("created_at"),
            last_study_id=Max("id"),
        )
        .order_by("-last_study_at", "-last_study_id")
    )


def study_for_user(user, study_id: int) -> Study:
    return studies_for_user(user).select_related("clinic").get(pk=study_id)


def instances_of_study(study: Study) -> QuerySet[Instance]:
    return study.instances.select_related("series").order_by(*Instance.PAGE_ORDER)


def with_latest_share_status(studies: QuerySet[Study]) -> QuerySet[Study]:
    """Annotate each study with its newest share's status in the same query (no N+1)."""
    from django.db.models import OuterRef, Subquery

    from .models import Share

    latest = Share.objects.filter(study=OuterRef("pk")).order_by("-created_at", "-id")
    return studies.annotate(share_status=Subquery(latest.values("status")[:1]))


def shares_for_user(user):
    from .models import Share

    return Share.objects.filter(clinic__in=clinics_for_user(user).values("pk"))


def share_for_user(user, share_id: int):
    return shares_for_user(user).select_related("clinic", "study").get(pk=share_id)


def share_history(study: Study):
    return study.shares.select_related("created_by").prefetch_related("exclusions", "items").order_by("-created_at", "-id")
