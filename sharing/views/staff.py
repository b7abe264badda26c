"""Staff pages: the study list, a study, and the upload endpoint behind drag and drop."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import selectors
from ..api.views import clinic_for_request
from ..delivery.channels import channel_choices
from ..ingest import ingest_uploads
from ..models import Study

PAGE_SIZE = 50
TABS = ("studies", "patients")


@login_required
def home(request):
    return redirect("studies")


@login_required
def study_list(request):
    tab = request.GET.get("tab", "studies")
    if tab not in TABS:
        tab = "studies"
    search = request.GET.get("q", "")
    if tab == "patients":
        rows = selectors.patients_for_user(request.user, search=search)
    else:
        rows = selectors.with_latest_share_status(selectors.studies_for_user(request.user, search=search))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    clinics = list(selectors.clinics_for_user(request.user))
    return render(
        request,
        "sharing/study_list.html",
        {"page": page, "tab": tab, "q": search, "clinics": clinics, "tabs": TABS},
    )


@login_required
def study_detail(request, study_id: int):
    try:
        study = selectors.study_for_user(request.user, study_id)
    except selectors.Study.DoesNotExist:
        raise Http404 from None
    from .shares import ShareForm

    return render_study(request, study, ShareForm(instances=selectors.instances_of_study(study)))


def render_study(request, study, form, status=200):
    return render(
        request,
        "sharing/study_detail.html",
        {
            "study": study, "instances": selectors.instances_of_study(study), "documents": study.documents.all(),
            "form": form, "shares": selectors.share_history(study), "channels": channel_choices(),
        },
        status=status,
    )


@login_required
@require_POST
def upload(request):
    """Drag-and-drop target: returns the same JSON shape as POST /api/v1/studies/."""
    files = request.FILES.getlist("files")
    if not files:
        return JsonResponse({"error": "Choose one or more DICOM files, folders or ZIP archives."}, status=400)
    try:
        clinic = clinic_for_request(request.user, request.POST.get("clinic"))
    except Exception:
        return JsonResponse({"error": "Choose the clinic to upload to."}, status=400)
    report = ingest_uploads(clinic, files, source=Study.Source.UPLOAD)
    return JsonResponse(
        {
            "studies": [{"id": s.pk} for s in report.studies],
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "discarded": report.discarded,
        },
        status=201,
    )
