"""REST API v1: thin views over the ingest service and the selectors."""

from django.http import Http404
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from .. import selectors
from ..ratelimits import limit_api
from ..ingest import ingest_uploads
from ..models import Study
from .serializers import (
    IngestResultSerializer, StudyDetailSerializer, StudyListQuerySerializer, StudySerializer, UploadSerializer,
)


def clinic_for_request(user, slug: str | None):
    """The clinic a write goes to: the named one, or the user's only clinic."""
    clinics = selectors.clinics_for_user(user)
    if slug:
        clinic = clinics.filter(slug=slug).first()
        if clinic is None:
            raise Http404
        return clinic
    clinics = list(clinics[:2])
    if not clinics:
        raise Http404
    if len(clinics) > 1:
        raise ValidationError({"clinic": ["You belong to several clinics: name one."]})
    return clinics[0]


@extend_schema_view(list=extend_schema(parameters=[StudyListQuerySerializer]))
@method_decorator(limit_api, name="dispatch")
class StudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Studies of the caller's clinics, newest first. `?search=` matches name or patient ID."""

    serializer_class = StudySerializer

    def get_queryset(self):
        query = StudyListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.studies_for_user(self.request.user, search=query.validated_data.get("search", ""))

    def get_serializer_class(self):
        if self.action == "retrieve":
            return StudyDetailSerializer
        if self.action == "create":
            return UploadSerializer
        return StudySerializer

    def get_object(self):
        try:
            return selectors.study_for_user(self.request.user, int(self.kwargs["pk"]))
        except (ValueError, selectors.Study.DoesNotExist):
            raise Http404 from None

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: IngestResultSerializer})
    def create(self, request):
        """Upload DICOM files or ZIPs (multipart field `files`). Bad files are listed in `rejected`; the rest go in."""
        files = request.FILES.getlist("files")
        if not files:
            raise ValidationError({"files": ["Attach one or more DICOM files or ZIP archives."]})
        clinic = clinic_for_request(request.user, request.data.get("clinic"))
        report = ingest_uploads(clinic, files, source=Study.Source.API)
        body = IngestResultSerializer(report).data
        return Response(body, status=status.HTTP_201_CREATED)

    parser_classes = [MultiPartParser]
