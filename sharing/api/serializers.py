from rest_framework import serializers

from ..delivery.channels import channel_choices
from ..models import Instance, Series, ShareItem, Study
from ..shares import service

# Database ids are PostgreSQL bigints: a larger number is refused here with a field error, not
# passed to the database driver (which raises OverflowError, a 500).
MAX_ID = 2**63 - 1
# A share of more images than this is not a patient's exam; the bound keeps one request small.
MAX_SHARE_INSTANCES = 10_000


def record_id(**options) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **options)


class StudySerializer(serializers.ModelSerializer):
    clinic = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Study
        fields = [
            "id", "clinic", "study_instance_uid", "patient_name", "patient_id", "patient_birth_date",
            "patient_sex", "study_date", "study_description", "accession_number", "modalities",
            "sonographers", "performing_physicians", "referring_physician", "institution",
            "source", "anonymized", "instance_count", "created_at",
        ]
        read_only_fields = fields


class SeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = ["id", "series_instance_uid", "modality", "series_number", "series_description"]


class InstanceSerializer(serializers.ModelSerializer):
    series = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Instance
        fields = [
            "id", "series", "sop_instance_uid", "sop_class_uid", "transfer_syntax_uid", "instance_number",
            "number_of_frames", "rows", "columns", "size", "pixels_verified", "created_at",
        ]


class StudyDetailSerializer(StudySerializer):
    series = SeriesSerializer(many=True, read_only=True)
    instances = serializers.SerializerMethodField()

    class Meta(StudySerializer.Meta):
        fields = StudySerializer.Meta.fields + ["series", "instances"]

    def get_instances(self, study) -> list[dict]:
        from ..selectors import instances_of_study

        return InstanceSerializer(instances_of_study(study), many=True).data


class UploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    clinic = serializers.SlugField(required=False, max_length=50, help_text="The clinic's slug; needed only for users of several clinics.")


class RejectedFileSerializer(serializers.Serializer):
    file = serializers.CharField()
    reason = serializers.CharField()
    reference = serializers.CharField(
        required=False, help_text="Present when the portal itself failed on the file (not bad input): quote it to support.")


class IngestResultSerializer(serializers.Serializer):
    studies = StudySerializer(many=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectedFileSerializer(many=True)
    discarded = RejectedFileSerializer(many=True)


class StudyListQuerySerializer(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                   help_text="Matches the patient's name or ID.")


def channel_field():
    return serializers.ChoiceField(
        choices=channel_choices(), required=False, allow_blank=True,
        help_text="How the link goes out; by default email for an email address, SMS for a mobile number.",
    )


class ShareCreateSerializer(serializers.Serializer):
    study = record_id()
    instances = serializers.ListField(child=record_id(), required=False, allow_empty=True, max_length=MAX_SHARE_INSTANCES)
    email = serializers.CharField(required=False, allow_blank=True, max_length=service.EMAIL_MAX_LENGTH)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=service.PHONE_MAX_LENGTH)
    channel = channel_field()
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=service.MAX_EXPIRY_DAYS)
    passcode = serializers.CharField(required=False, allow_blank=True, max_length=service.PASSCODE_MAX_LENGTH, write_only=True)


class ShareResendSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True, max_length=service.EMAIL_MAX_LENGTH)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=service.PHONE_MAX_LENGTH)
    channel = channel_field()
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=service.MAX_EXPIRY_DAYS)


class ExclusionSerializer(serializers.Serializer):
    instance = serializers.IntegerField(source="instance_id", allow_null=True)
    reason = serializers.CharField()
    accepted = serializers.SerializerMethodField()

    def get_accepted(self, exclusion) -> bool:
        return exclusion.accepted_at is not None


class ShareSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study = serializers.IntegerField(source="study_id")
    status = serializers.CharField()
    step = serializers.CharField()
    error = serializers.CharField()
    channel = serializers.CharField()
    contact = serializers.CharField(source="contact_masked", help_text="Masked: the portal does not keep the contact after delivery.")
    images = serializers.SerializerMethodField(help_text="Number of stills on the patient's page.")
    clips = serializers.SerializerMethodField(help_text="Number of clips on the patient's page.")
    excluded = ExclusionSerializer(source="exclusions", many=True)
    progress = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField()
    opened_at = serializers.DateTimeField()
    downloaded_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def _count(self, share, kind) -> int:
        return sum(1 for item in share.items.all() if item.kind == kind)

    def get_images(self, share) -> int:
        return self._count(share, ShareItem.Kind.IMAGE)

    def get_clips(self, share) -> int:
        return self._count(share, ShareItem.Kind.CLIP)

    def get_progress(self, share) -> dict:
        return {"done": share.progress_done, "total": share.progress_total}
