from django import forms
from django.contrib import admin

from .models import Clinic, DicomDevice, Document, Instance, Membership, Series, Study
from .shares.passcodes import validate_passcode


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class DicomDeviceInline(admin.TabularInline):
    model = DicomDevice
    extra = 0


class ClinicForm(forms.ModelForm):
    """The passcode is write-only: only its hash is stored, so the form can set or clear it."""

    new_link_passcode = forms.CharField(
        label="Patient link passcode", required=False, max_length=64, widget=forms.PasswordInput(render_value=False),
        help_text="Set a passcode (at least 6 characters) every patient link of this clinic asks for. Leave blank to keep the current one.",
    )
    clear_link_passcode = forms.BooleanField(label="Remove the passcode", required=False)

    class Meta:
        model = Clinic
        exclude = ["link_passcode_hash"]

    def clean_new_link_passcode(self) -> str:
        passcode = self.cleaned_data.get("new_link_passcode", "")
        validate_passcode(passcode)
        return passcode

    def save(self, commit=True):
        clinic = super().save(commit=False)
        if self.cleaned_data.get("clear_link_passcode"):
            clinic.set_link_passcode("")
        elif self.cleaned_data.get("new_link_passcode"):
            clinic.set_link_passcode(self.cleaned_data["new_link_passcode"])
        if commit:
            clinic.save()
            self.save_m2m()
        return clinic


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    form = ClinicForm
    list_display = ["name", "slug", "mode", "link_lifetime_days", "language", "has_link_passcode"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, DicomDeviceInline]

    @admin.display(boolean=True, description="Passcode")
    def has_link_passcode(self, clinic) -> bool:
        return bool(clinic.link_passcode_hash)


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
