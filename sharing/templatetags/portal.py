"""Display rules for the staff list: anonymized studies show what strict anonymization kept."""

from django import template

register = template.Library()

SEX_LABELS = {"M": "Male", "F": "Female", "O": "Other"}


@register.filter
def birth_date(study) -> str:
    value = study.patient_birth_date if hasattr(study, "patient_birth_date") else study.get("patient_birth_date")
    if not value:
        return ""
    anonymized = getattr(study, "anonymized", False)
    # Strict keeps the decade only: show "1980s", not a made-up 1 January.
    return f"{value.year}s" if anonymized else value.isoformat()


@register.filter
def study_date(study) -> str:
    if not study.study_date:
        return ""
    return str(study.study_date.year) if study.anonymized else study.study_date.isoformat()


@register.filter
def sex(value: str) -> str:
    return SEX_LABELS.get((value or "").upper(), value or "")
