"""REST API v1 for shares: what a reporting system calls to send an exam to its patient."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import selectors
from ..ratelimits import limit_api
from ..models import Share
from ..shares import service
from .serializers import ShareCreateSerializer, ShareResendSerializer, ShareSerializer

QUEUED = inline_serializer("ShareQueued", {"id": serializers.IntegerField(), "status": serializers.CharField()})


def as_drf(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages})


@method_decorator(limit_api, name="dispatch")
class ShareViewSet(viewsets.GenericViewSet):
    serializer_class = ShareSerializer

    def get_queryset(self):
        return selectors.shares_for_user(self.request.user).prefetch_related("items", "exclusions")

    def get_object(self):
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (ValueError, Share.DoesNotExist):
            raise Http404 from None

    @extend_schema(request=ShareCreateSerializer, responses={202: QUEUED})
    def create(self, request):
        """Share a study with its patient: give an email or a mobile number, and optionally the `channel`
        (email, sms, whatsapp). 404 for a study you cannot see."""
        payload = ShareCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            study = selectors.study_for_user(request.user, data["study"])
        except selectors.Study.DoesNotExist:
            raise Http404 from None
        try:
            share = service.create_share(
                service.ShareRequest(
                    study=study, email=data.get("email", ""), phone=data.get("phone", ""), channel=data.get("channel", ""),
                    instance_ids=data.get("instances") or None, expires_in_days=data.get("expires_in_days"),
                    passcode=data.get("passcode", ""),
                ),
                user=request.user,
            )
        except DjangoValidationError as exc:
            raise as_drf(exc) from None
        return Response({"id": share.pk, "status": share.status}, status=status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk=None):
        return Response(ShareSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: ShareSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Kill the link at once."""
        share = service.revoke_share(self.get_object(), user=request.user)
        return Response(ShareSerializer(self.get_queryset().get(pk=share.pk)).data)

    @extend_schema(request=ShareResendSerializer, responses={202: QUEUED})
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """A new link and a new expiry; the old link dies. Give the contact again once it was delivered."""
        payload = ShareResendSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            share = service.resend_share(
                self.get_object(), email=data.get("email", ""), phone=data.get("phone", ""), channel=data.get("channel", ""),
                expires_in_days=data.get("expires_in_days"), user=request.user,
            )
        except DjangoValidationError as exc:
            raise as_drf(exc) from None
        return Response({"id": share.pk, "status": share.status}, status=status.HTTP_202_ACCEPTED)
