from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import health
from portal.api_docs import sign_in_for_docs

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin signs in through our login (django-axes lockout included). No redirect for a
    # signed-in user here: the admin sends a non-staff user back to this page, which would loop.
    path("admin/login/", auth_views.LoginView.as_view()),
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script as a file (no inline script for the CSP); Swagger UI
    # itself comes from drf-spectacular-sidecar, not a CDN.
    path("api/v1/docs/", sign_in_for_docs(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("", include("sharing.urls")),
]
