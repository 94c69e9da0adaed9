"""Dashboard input. Forms parse and check types; rules live in assets_app.services, whose
errors the views put back on these forms' fields."""

from django import forms

from config.errors import ApplicationError

from .models import Asset

# API.md field names → form field names, to show service errors next to their input.
ERROR_FIELDS = {
    "displayName": "display_name",
    "chunkSize": "chunk_size",
    "chunkOverlap": "chunk_overlap",
    "files": "files",
    "path": "path",
    "glob": "glob",
}


def add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Attach an ApplicationError's per-field messages (or its message) to ``form``."""
    placed = False
    for key, messages in exc.errors.items():
        field = ERROR_FIELDS.get(key)
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django docs, "Uploading multiple files")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class ChunkingFields(forms.Form):
    chunk_size = forms.IntegerField(
        label="Chunk size (tokens)", initial=512, min_value=1,
        help_text="Tokens per chunk, within the embedding model's input limit.",
    )
    chunk_overlap = forms.IntegerField(
        label="Chunk overlap (tokens)", initial=64, min_value=0,
        help_text="Tokens shared by neighbouring chunks; smaller than the chunk size.",
    )


class UploadAssetForm(ChunkingFields):
    display_name = forms.CharField(label="Name", max_length=200, required=False)
    files = MultipleFileField(
        label="Files", required=False,
        help_text=".txt, .md, .html, .pdf — several at once, up to 50 MB each.",
    )
    field_order = ["display_name", "files", "chunk_size", "chunk_overlap"]


class FolderAssetForm(ChunkingFields):
    display_name = forms.CharField(label="Name", max_length=200, required=False)
    path = forms.CharField(label="Folder on the server", max_length=1024)
    glob = forms.CharField(label="Files matching", initial="**/*", max_length=200)
    field_order = ["display_name", "path", "glob", "chunk_size", "chunk_overlap"]


class AssetSettingsForm(forms.ModelForm):
    confirm_reindex = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Asset
        fields = ["display_name", "chunk_size", "chunk_overlap"]
        labels = {
            "display_name": "Name",
            "chunk_size": "Chunk size (tokens)",
            "chunk_overlap": "Chunk overlap (tokens)",
        }
        help_texts = {
            "chunk_size": "Changing it re-embeds every document (a REINDEX operation).",
            "chunk_overlap": "Smaller than the chunk size.",
        }

    def _post_clean(self):
        pass  # no model validation or instance update: the service decides and saves
