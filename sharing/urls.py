from django.urls import include, path
from rest_framework.routers import DefaultRouter

from .api.views import StudyViewSet
from .views import dicomweb, staff

router = DefaultRouter(trailing_slash=True)
router.register("studies", StudyViewSet, basename="api-study")

urlpatterns = [
    path("", staff.home, name="home"),
    path("studies/", staff.study_list, name="studies"),
    path("studies/<int:study_id>/", staff.study_detail, name="study"),
    path("upload/", staff.upload, name="upload"),
    path("api/v1/", include(router.urls)),
    path("dicomweb/studies", dicomweb.stow_rs, name="stow-rs"),
]
