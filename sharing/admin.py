from django.contrib import admin

from .models import Clinic, DicomDevice, Document, Instance, Membership, Series, Study


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class DicomDeviceInline(admin.TabularInline):
    model = DicomDevice
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "mode", "link_lifetime_days", "language"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    exclude = ["link_passcode_hash"]
    inlines = [MembershipInline, DicomDeviceInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "created_at"]
    list_select_related = ["user", "clinic"]
    autocomplete_fields = ["user", "clinic"]


class SeriesInline(admin.TabularInline):
    model = Series
    extra = 0
    readonly_fields = ["series_instance_uid", "modality", "series_number", "series_description"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["id", "clinic", "patient_name", "patient_id", "study_date", "modalities", "source", "instance_count", "created_at"]
    list_filter = ["clinic", "source", "anonymized"]
    list_select_related = ["clinic"]
    search_fields = ["patient_name", "patient_id", "study_instance_uid"]
    show_full_result_count = False
    inlines = [SeriesInline]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ["id", "clinic", "study", "sop_class_uid", "transfer_syntax_uid", "number_of_frames", "size", "pixels_verified"]
    list_filter = ["clinic", "pixels_verified"]
    list_select_related = ["clinic", "study"]
    raw_id_fields = ["study", "series"]
    show_full_result_count = False


admin.site.register(Document)
