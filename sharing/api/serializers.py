from rest_framework import serializers

from ..models import Instance, Series, Study


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
    clinic = serializers.SlugField(required=False, help_text="The clinic's slug; needed only for users of several clinics.")


class RejectedFileSerializer(serializers.Serializer):
    file = serializers.CharField()
    reason = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    studies = StudySerializer(many=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectedFileSerializer(many=True)
    discarded = RejectedFileSerializer(many=True)
