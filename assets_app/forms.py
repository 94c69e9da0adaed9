"""Dashboard input. Forms parse and check types; rules live in assets_app.services, whose
errors the views put back on these forms' fields."""

from django import forms
from django.conf import settings

from config.errors import ApplicationError

from . import search
from .autoupdate.checks import TAKES, AutoUpdateSettings
from .autoupdate.timing import timezone_names
from .budget_limits import budget_limits_from_input
from .budgets import LIMITS
from .models import (
    Asset,
    AutoUpdateStrategy,
    PollFrequency,
    WebhookAuthMode,
    Weekday,
)
from .selectors import embedding_models
from .services import MIN_CHUNK_SIZE
from .sources.descriptors import SECRET_MASK, ParameterDescriptor, SourceTypeDescriptor

# Django refuses a request with more files (TooManyFilesSent); the upload view turns
# that into an error on the Files field. 200 is this project's setting, kept as is.
MAX_FILES_AT_ONCE = settings.DATA_UPLOAD_MAX_NUMBER_FILES

# API.md field names → form field names, to show service errors next to their input.
ERROR_FIELDS = {
    "displayName": "display_name",
    "chunkSize": "chunk_size",
    "chunkOverlap": "chunk_overlap",
    "embeddingModel": "embedding_model",
    "embeddingDimensions": "embedding_model",
    "files": "files",
    "path": "path",
    "glob": "glob",
    "name": "name",
    **{name: name for name in ("query", "searchMode", "vectorWeight", "ftsWeight")},
    **{f"budget.{lim.wire}": lim.field for lim in LIMITS},
    **{f"currencyBudget.{lim.cost_wire}": f"{lim.field}_usd" for lim in LIMITS},
    "budget": "token_budget",
    # Auto-update (AutoUpdateForm)
    "autoUpdate": "strategy",
    "autoUpdate.strategy": "strategy",
    "autoUpdate.pollFrequency": "poll_frequency",
    "autoUpdate.pollDay": "poll_day",
    "autoUpdate.pollDayOfMonth": "poll_day_of_month",
    "autoUpdate.pollHour": "poll_hour",
    "autoUpdate.pollMinute": "poll_minute",
    "autoUpdate.timezone": "timezone",
    "autoUpdate.filter": "filter",
    "autoUpdate.webhookAuthMode": "webhook_auth_mode",
}


def add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Attach an ApplicationError's per-field messages (or its message) to ``form``."""
    placed = False
    for key, messages in exc.errors.items():
        field = ERROR_FIELDS.get(key, key)  # source parameters keep their names
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
        # The service refuses empty files with a message naming the file; Django's
        # own check would say only "The submitted file is empty."
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


def chunk_size_field(**kwargs) -> forms.IntegerField:
    """The chunk size input; its minimum is the service's (the maximum depends on the
    embedding model, so the service checks it)."""
    return forms.IntegerField(
        label="Chunk size (tokens)", min_value=MIN_CHUNK_SIZE, error_messages={
            "min_value": f"Chunk size must be a whole number of tokens from "
            f"{MIN_CHUNK_SIZE} up to the embedding model's input limit.",
        }, **kwargs,
    )


def chunk_overlap_field(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label="Chunk overlap (tokens)", min_value=0, error_messages={
            "min_value": "Chunk overlap must be a whole number of tokens ≥ 0.",
        }, **kwargs,
    )


DEFAULT_MODEL = "builtin/hashed-lexical-384"  # Asset's field defaults
BUILTIN_DIMENSIONS = 384


def embedding_model_choices() -> list[tuple[str, str]]:
    """``("provider/model", label)`` of each model ``GET …/assets:embeddingModels``
    lists (the same selector), price in USD per 1,000,000 tokens."""
    return [
        (f"{m.provider}/{m.model}",
         f"{m.provider} / {m.model} — {m.dimensions} dimensions, up to "
         f"{m.max_input_tokens} tokens per chunk, "
         f"{m.price_per_million_tokens.normalize():f} USD per 1M tokens")
        for m in embedding_models()
    ]  # fmt: skip


class ChunkingFields(forms.Form):
    """The embedding model (chosen at creation) and the chunking."""

    embedding_model = forms.ChoiceField(
        label="Embedding model", choices=embedding_model_choices, required=False,
        initial=DEFAULT_MODEL,
        help_text="The built-in model is offline and free. Changing the model later "
        "re-embeds every document (a REINDEX operation).",
    )  # fmt: skip
    chunk_size = chunk_size_field(
        initial=512,
        help_text="Tokens per chunk, within the embedding model's input limit.",
    )
    chunk_overlap = chunk_overlap_field(
        initial=64,
        help_text="Tokens shared by neighbouring chunks; smaller than the chunk size.",
    )

    def clean_embedding_model(self) -> str:
        chosen = self.cleaned_data.get("embedding_model") or DEFAULT_MODEL
        known = {f"{m.provider}/{m.model}" for m in embedding_models()}
        if chosen != DEFAULT_MODEL and chosen not in known:
            raise forms.ValidationError(f"No such embedding model: {chosen}.")
        return chosen

    def embedding(self) -> dict:
        """The chosen model as the create services' ``embedding_*`` arguments."""
        chosen = self.cleaned_data.get("embedding_model") or DEFAULT_MODEL
        provider, model = chosen.split("/", 1)
        row = next(
            (m for m in embedding_models() if (m.provider, m.model) == (provider, model)),
            None,
        )
        return {
            "embedding_provider": provider,
            "embedding_model": model,
            # The built-in model works without its price row (an admin may delete it).
            "embedding_dimensions": row.dimensions if row else BUILTIN_DIMENSIONS,
        }


class UploadAssetForm(ChunkingFields):
    display_name = forms.CharField(label="Name", max_length=200, required=False)
    files = MultipleFileField(
        label="Files", required=False,
        help_text=f".txt, .md, .html, .pdf, .docx, .csv — up to {MAX_FILES_AT_ONCE} at once "
        f"(DATA_UPLOAD_MAX_NUMBER_FILES), up to 50 MB each.",
    )
    field_order = ["display_name", "files", "chunk_size", "chunk_overlap"]

    def add_files_error_unbound(self, message: str) -> None:
        """Show ``message`` on Files of this blank (unbound) form: for an upload whose
        data Django refused to read, so there is nothing to bind."""
        self.cleaned_data = {}  # add_error expects a cleaned form
        self.add_error("files", message)


class FolderAssetForm(ChunkingFields):
    display_name = forms.CharField(label="Name", max_length=200, required=False)
    path = forms.CharField(label="Folder on the server", max_length=1024)
    glob = forms.CharField(label="Files matching", initial="**/*", max_length=200)
    field_order = ["display_name", "path", "glob", "chunk_size", "chunk_overlap"]


class LinesField(forms.CharField):
    """A list of strings, one per line (an ``array`` source parameter)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def clean(self, value):
        lines = super().clean(value).splitlines()
        return [line.strip() for line in lines if line.strip()]


def parameter_field(p: ParameterDescriptor) -> forms.Field:
    """The form field of a source parameter (descriptor-driven: a new source type
    needs no form code). A secret one is a password input left empty to keep it."""
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in p.name[1:])
    label = p.name[0].upper() + words  # maxPages → "Max pages"
    required = p.required and not p.secret
    common = {"label": label, "help_text": p.help, "required": required}
    if p.options:
        return forms.ChoiceField(choices=[(o, o) for o in p.options], initial=p.default,
                                 **common)  # fmt: skip
    if p.type == "integer":
        return forms.IntegerField(initial=p.default, **common)
    if p.type == "boolean":
        return forms.BooleanField(initial=p.default, **{**common, "required": False})
    if p.type == "array":
        initial = list(p.default or ())
        return LinesField(initial=initial, **{**common, "required": False})
    if p.secret:
        return forms.CharField(widget=forms.PasswordInput(render_value=False), **common)
    return forms.CharField(initial=p.default, max_length=2048, strip=True,
                           **{**common, "required": p.required})  # fmt: skip


class SourceParameterFields:
    """Mixin: one field per parameter of ``descriptor``; ``parameters()`` gives the
    cleaned values under their API names (an empty secret left out: kept as is)."""

    def add_parameter_fields(self, descriptor: SourceTypeDescriptor) -> None:
        self.descriptor = descriptor
        for p in descriptor.parameters:
            self.fields[p.name] = parameter_field(p)

    def parameters(self) -> dict:
        out = {}
        for p in self.descriptor.parameters:
            value = self.cleaned_data.get(p.name)
            if p.secret and value in ("", None, SECRET_MASK):
                continue
            if value is None and not p.required:
                continue
            out[p.name] = value
        return out


class SourceAssetForm(SourceParameterFields, ChunkingFields):
    """Create a web or git asset: the name, the descriptor's parameters, chunking."""

    display_name = forms.CharField(label="Name", max_length=200, required=False)

    def __init__(self, *args, descriptor: SourceTypeDescriptor, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_parameter_fields(descriptor)
        self.order_fields(["display_name", *(p.name for p in descriptor.parameters)])


BUDGET_FIELDS = ("token_budget", "monthly_token_budget", "daily_token_budget")


def usd_field(period: str) -> forms.DecimalField:
    return forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=6,
        label=f"{period} cost budget (USD)",
        help_text="Converted to the token budget above at the model's price; empty: "
        "keep the token budget.",
    )  # fmt: skip


class AssetSettingsForm(SourceParameterFields, forms.ModelForm):
    """Name, embedding model and chunking, budget; for a source type given as
    ``descriptor`` (web, git) also its parameters, filled from the asset (secrets
    blank: left empty, they are kept). The model picker lists what
    ``GET …/assets:embeddingModels`` lists; left out of a post, the model stays."""

    embedding_model = forms.ChoiceField(
        label="Embedding model", required=False,
        help_text="Changing it re-embeds every document with the new model (a "
        "REINDEX operation).",
    )  # fmt: skip
    chunk_size = chunk_size_field(
        help_text="Changing it re-embeds every document (a REINDEX operation).",
    )
    chunk_overlap = chunk_overlap_field(help_text="Smaller than the chunk size.")
    confirm_reindex = forms.BooleanField(required=False, widget=forms.HiddenInput)
    token_budget_usd = usd_field("Total")
    monthly_token_budget_usd = usd_field("Monthly")
    daily_token_budget_usd = usd_field("Daily")

    class Meta:
        model = Asset
        fields = ["display_name", "chunk_size", "chunk_overlap", *BUDGET_FIELDS]
        labels = {
            "display_name": "Name",
            "token_budget": "Total token budget",
            "monthly_token_budget": "Monthly token budget",
            "daily_token_budget": "Daily token budget",
        }
        help_texts = {
            "token_budget": "Billed tokens, ever; empty: unlimited. Applies at once.",
            "monthly_token_budget": "Per calendar month (UTC); empty: unlimited.",
            "daily_token_budget": "Per UTC day, search queries included; empty: "
            "unlimited.",
        }

    def __init__(self, *args, descriptor: SourceTypeDescriptor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.current_model()
        choices = embedding_model_choices()
        if current not in {value for value, _ in choices}:
            # A model no longer offered here (its price row deleted, the local
            # extra uninstalled) stays selectable as "no change".
            choices.insert(0, (current, f"{current} (current; no longer offered)"))
        self.fields["embedding_model"].choices = choices
        self.initial.setdefault("embedding_model", current)
        if descriptor is not None:
            self.add_parameter_fields(descriptor)
            for p in descriptor.parameters:
                if not p.secret and p.name in self.instance.source_parameters:
                    self.initial[p.name] = self.instance.source_parameters[p.name]
        names = [p.name for p in descriptor.parameters] if descriptor else []
        self.order_fields(["display_name", *names, "embedding_model", "chunk_size"])

    def current_model(self) -> str:
        return f"{self.instance.embedding_provider}/{self.instance.embedding_model}"

    def chosen_model(self) -> tuple[str, str]:
        """(provider, model) chosen; the asset's when the field was left out."""
        chosen = self.cleaned_data.get("embedding_model") or self.current_model()
        provider, model = chosen.split("/", 1)
        return provider, model

    def model_changed(self) -> bool:
        return self.chosen_model() != (
            self.instance.embedding_provider, self.instance.embedding_model,
        )  # fmt: skip

    def chunking_changed(self) -> bool:
        data = self.cleaned_data
        return (data["chunk_size"], data["chunk_overlap"]) != (
            self.instance.chunk_size, self.instance.chunk_overlap,
        )  # fmt: skip

    def _post_clean(self):
        pass  # no model validation or instance update: the service decides and saves

    def budget_limits(self) -> dict:
        """The token limits changed in this form, USD ones converted with the price
        of the chosen model (the new one on a model change, as the API does;
        budget_limits.budget_limits_from_input, whose ValidationFailed names the
        API members; ERROR_FIELDS maps them back)."""
        data, changed = self.cleaned_data, self.changed_data
        provider, model = self.chosen_model()
        return budget_limits_from_input(
            provider=provider,
            model=model,
            budget={lim.wire: data[lim.field] for lim in LIMITS
                    if lim.field in changed},
            currency_budget={lim.cost_wire: data[f"{lim.field}_usd"] for lim in LIMITS
                             if data.get(f"{lim.field}_usd") is not None},
        )  # fmt: skip


class AutoUpdateForm(forms.Form):
    """The auto-update section of the settings page (prefix ``au``): the strategies
    the asset's source type supports, the schedule of a poll, the filter and auth
    mode of a webhook. ``settings()`` keeps only what the chosen strategy and
    frequency use, so fields left filled in for another choice do not count."""

    strategy = forms.ChoiceField(label="Auto-update", required=False)
    poll_frequency = forms.ChoiceField(
        label="Poll", choices=PollFrequency.choices, initial=PollFrequency.DAILY,
        required=False,
    )  # fmt: skip
    poll_day = forms.ChoiceField(
        label="Day of the week (weekly)", choices=Weekday.choices, required=False
    )
    poll_day_of_month = forms.IntegerField(
        label="Day of the month (monthly)", min_value=1, max_value=28, initial=1,
        required=False, help_text="1–28, so that every month has it.",
    )  # fmt: skip
    poll_hour = forms.IntegerField(
        label="Hour (not hourly)", min_value=0, max_value=23, initial=3, required=False
    )
    poll_minute = forms.IntegerField(
        label="Minute", min_value=0, max_value=59, initial=0, required=False
    )
    timezone = forms.ChoiceField(
        label="Time zone", initial="UTC", required=False,
        help_text="The schedule follows this zone's clock, daylight saving included.",
    )  # fmt: skip
    filter = forms.CharField(
        label="Only pushes changing (webhook)", max_length=500, required=False,
        help_text="A gitignore-style pattern such as docs/** or *.md; empty: any file.",
    )  # fmt: skip
    webhook_auth_mode = forms.ChoiceField(
        label="Webhook authentication", choices=WebhookAuthMode.choices,
        initial=WebhookAuthMode.HMAC_SHA256, required=False,
        help_text="HMAC: deliveries are signed with a secret (GitHub's Secret field). "
        "Secret in the URL: for senders that cannot sign.",
    )  # fmt: skip

    def __init__(self, *args, descriptor: SourceTypeDescriptor, row=None, **kwargs):
        kwargs.setdefault("prefix", "au")
        if row is not None:
            kwargs.setdefault("initial", {
                name: getattr(row, name) for name in self.declared_fields
                if getattr(row, name) not in ("", None)
            })  # fmt: skip
        super().__init__(*args, **kwargs)
        choices = [("", "Off")]
        if descriptor.poll_schedule:
            choices.append((AutoUpdateStrategy.POLL, AutoUpdateStrategy.POLL.label))
        if descriptor.webhook_registration:
            choices.append(
                (AutoUpdateStrategy.WEBHOOK, AutoUpdateStrategy.WEBHOOK.label)
            )
        self.fields["strategy"].choices = choices
        self.fields["timezone"].choices = [(z, z) for z in sorted(timezone_names())]
        if not descriptor.webhook_registration:
            for name in ("filter", "webhook_auth_mode"):
                del self.fields[name]

    def settings(self) -> AutoUpdateSettings | None:
        """The cleaned settings as the service takes them; None for Off."""
        data = self.cleaned_data
        if not data["strategy"]:
            return None
        if data["strategy"] == AutoUpdateStrategy.WEBHOOK:
            return AutoUpdateSettings(
                strategy=data["strategy"], filter=data.get("filter") or None,
                webhook_auth_mode=data.get("webhook_auth_mode") or None,
            )  # fmt: skip
        frequency = data["poll_frequency"] or None
        takes = TAKES.get(frequency, frozenset())
        return AutoUpdateSettings(
            strategy=data["strategy"], poll_frequency=frequency,
            poll_day=(data["poll_day"] or None) if "pollDay" in takes else None,
            poll_day_of_month=data["poll_day_of_month"]
            if "pollDayOfMonth" in takes else None,
            poll_hour=data["poll_hour"] if "pollHour" in takes else None,
            poll_minute=data["poll_minute"], timezone=data["timezone"] or None,
        )  # fmt: skip


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100,
        help_text="What will use it, e.g. “CI pipeline”, to recognise it in this list.",
    )


class SearchForm(forms.Form):
    """The search playground's query and knobs (a GET form). Field names are the
    API's ``:search`` body members, so a playground URL reads like a request and the
    core's errors (keyed by them) land on their inputs."""

    query = forms.CharField(label="Query", max_length=search.MAX_QUERY_CHARS)
    searchMode = forms.ChoiceField(
        label="Mode", required=False, initial=search.SearchMode.HYBRID.value,
        choices=[(m.value, m.value.replace("_", " ").title())
                 for m in search.SearchMode],
    )  # fmt: skip
    topK = forms.IntegerField(
        label="Top k", required=False, initial=search.DEFAULT_TOP_K, min_value=1,
        max_value=search.MAX_TOP_K,
    )  # fmt: skip
    scoreThreshold = forms.FloatField(label="Min. score", required=False)
    maxTokens = forms.IntegerField(
        label="Max. tokens", required=False, min_value=1,
        max_value=search.MAX_TOKENS_LIMIT,
    )  # fmt: skip
    vectorWeight = forms.FloatField(
        label="Vector weight", required=False, initial=1.0, min_value=0,
        max_value=search.MAX_WEIGHT,
    )  # fmt: skip
    ftsWeight = forms.FloatField(
        label="Full-text weight", required=False, initial=1.0, min_value=0,
        max_value=search.MAX_WEIGHT,
    )  # fmt: skip
    rrfK = forms.IntegerField(
        label="RRF k", required=False, initial=search.DEFAULT_RRF_K, min_value=0,
        max_value=search.MAX_RRF_K,
    )  # fmt: skip

    def params(self) -> search.SearchParams:
        """The cleaned form as SearchParams; a blank knob takes its default."""
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return search.SearchParams(
            query=data["query"],
            mode=search.SearchMode(data.get("searchMode", search.SearchMode.HYBRID)),
            top_k=data.get("topK", search.DEFAULT_TOP_K),
            score_threshold=data.get("scoreThreshold"),
            vector_weight=data.get("vectorWeight", 1.0),
            fts_weight=data.get("ftsWeight", 1.0),
            rrf_k=data.get("rrfK", search.DEFAULT_RRF_K),
            max_tokens=data.get("maxTokens"),
        )
