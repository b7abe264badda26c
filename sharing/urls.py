from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from .api.shares import ShareViewSet
from .api.views import StudyViewSet
from .views import dicomweb, patient, review, shares, staff

router = DefaultRouter(trailing_slash=True)
router.register("studies", StudyViewSet, basename="api-study")
router.register("shares", ShareViewSet, basename="api-share")

urlpatterns = [
    path("", staff.home, name="home"),
    path("studies/", staff.study_list, name="studies"),
    path("studies/<int:study_id>/", staff.study_detail, name="study"),
    path("upload/", staff.upload, name="upload"),
    path("studies/<int:study_id>/share/", shares.create, name="share-create"),
    path("studies/<int:study_id>/instances/<int:instance_id>/thumbnail.jpg", shares.thumbnail, name="instance-thumbnail"),
    path("shares/<int:share_id>/revoke/", shares.revoke, name="share-revoke"),
    path("shares/<int:share_id>/resend/", shares.resend, name="share-resend"),
    path("shares/<int:share_id>/progress/", shares.progress, name="share-progress"),
    path("shares/<int:share_id>/exclusions/<int:exclusion_id>/accept/", shares.accept_exclusion, name="share-accept-exclusion"),
    path("shares/<int:share_id>/exclusions/<int:exclusion_id>/review/", review.review_page, name="share-exclusion-review"),
    path("shares/<int:share_id>/exclusions/<int:exclusion_id>/review.jpg", review.review_image, name="share-exclusion-review-image"),
    path("shares/<int:share_id>/exclusions/<int:exclusion_id>/blackout/", review.blackout_and_accept, name="share-exclusion-blackout"),
    path("p/<str:token>", patient.landing, name="patient-landing"),
    path("p/<str:token>/passcode", patient.passcode, name="patient-passcode"),
    path("p/<str:token>/opened", patient.opened, name="patient-opened"),
    path("p/<str:token>/ultrasound.zip", patient.download_all, name="patient-zip"),
    path("p/<str:token>/a/<int:item_id>/<str:variant>", patient.asset, name="patient-asset"),
    path("branding/<int:clinic_id>/logo", patient.clinic_logo, name="clinic-logo"),
    path("api/v1/", include(router.urls)),
    path("dicomweb/studies", dicomweb.stow_rs, name="stow-rs"),
    # Study-scoped STOW-RS (PS3.18 10.5): a UID is digits and dots, at most 64 characters.
    re_path(r"^dicomweb/studies/(?P<study_uid>[0-9.]{1,64})$", dicomweb.stow_rs_study, name="stow-rs-study"),
]
