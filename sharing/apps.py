from django.apps import AppConfig


class SharingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from django.core import checks

        from portal.filemodes import check_data_modes

        # Every manage.py command (migrate, run_portal, dicom_listener) warns about files holding
        # identifiers that other users can read.
        checks.register(check_data_modes, checks.Tags.security)
