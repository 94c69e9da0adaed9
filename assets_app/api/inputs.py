"""Request bodies of the asset API (API.md): shapes and types only; unknown members
are rejected (400 naming them). The rules (roles, chunking limits, allowed folders,
models) are the services' (assets_app.services)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import RejectUnknownFieldsMixin
from config.errors import ValidationFailed

from ..autoupdate.checks import AutoUpdateSettings
from ..models import (
    AutoUpdateStrategy,
    PollFrequency,
    WebhookAuthMode,
    Weekday,
)
from ..sources.descriptors import SOURCE_TYPES


class StrictSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Unknown members are a 400 (config.api.RejectUnknownFieldsMixin); in a nested
    object they are named by their path (``embedding.chunkSise``)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except ValidationFailed as exc:
            if not self.field_name or not all(
                m == ["Unknown field."] for m in exc.errors.values()
            ):
                raise
            paths = [f"{self.field_name}.{name}" for name in exc.errors]
            known = sorted(n for n, f in self.fields.items() if not f.read_only)
            raise ValidationFailed(
                f"Unknown field{'s' if len(paths) > 1 else ''} {', '.join(paths)}; "
                f"{self.field_name} takes {', '.join(known)}.",
                errors={p: ["Unknown field."] for p in paths},
            ) from None


# Members of API.md's create and PATCH bodies whose capability does not exist yet:
# refused with a 400 that says so, rather than accepted and ignored.
NOT_SUPPORTED_YET = {}


@extend_schema_field(
    {"description": "Not supported yet: sending it is a 400 saying so."}
)
class NotSupportedYetField(serializers.Field):
    """Accepts nothing: its presence is a 400 with the reason."""

    def __init__(self, reason: str, **kwargs):
        self.reason = reason
        super().__init__(required=False, allow_null=True, **kwargs)

    def validate_empty_values(self, data):
        if data is serializers.empty:
            raise serializers.SkipField()
        raise serializers.ValidationError(self.reason)


def _not_yet(name: str) -> NotSupportedYetField:
    return NotSupportedYetField(NOT_SUPPORTED_YET[name])


def _limit(kind: str):
    if kind == "tokens":
        return serializers.IntegerField(
            required=False, allow_null=True, help_text="Tokens; null: unlimited."
        )
    return serializers.DecimalField(
        max_digits=20, decimal_places=6, required=False, allow_null=True,
        coerce_to_string=False, help_text="USD; null: unlimited.",
    )  # fmt: skip


class BudgetInput(StrictSerializer):
    """Token limits; only members sent change (assets_app.budget_limits)."""

    tokenBudget = _limit("tokens")
    monthlyTokenBudget = _limit("tokens")
    dailyTokenBudget = _limit("tokens")


class CurrencyBudgetInput(StrictSerializer):
    """USD limits, converted to token limits with the model price when set."""

    costBudget = _limit("usd")
    monthlyCostBudget = _limit("usd")
    dailyCostBudget = _limit("usd")


class EmbeddingInput(StrictSerializer):
    """``provider``, ``model`` and ``dimensions`` are checked by the services against
    the catalogue (ModelPrice, services.embedding_model_checked); on PATCH a new
    model starts a REINDEX."""

    provider = serializers.CharField(
        required=False, help_text="With model: a row of assets:embeddingModels."
    )
    model = serializers.CharField(
        required=False, help_text="On PATCH, another model starts a REINDEX."
    )
    dimensions = serializers.IntegerField(
        required=False, help_text="Optional; must be the model's."
    )
    chunkSize = serializers.IntegerField(required=False, help_text="Tokens.")
    chunkOverlap = serializers.IntegerField(required=False, help_text="Tokens.")


class SourceTypeField(serializers.ChoiceField):
    """A descriptor key; ``WEB`` is accepted for ``web`` (API.md spells enums
    UPPER_SNAKE, while ``config.sourceType`` reads back as the descriptor's key)."""

    def to_internal_value(self, data):
        data = data.lower() if isinstance(data, str) else data
        return super().to_internal_value(data)


class SourceConfigInput(StrictSerializer):
    sourceType = SourceTypeField(choices=sorted(SOURCE_TYPES))
    parameters = serializers.DictField(required=False, default=dict)


class SourceConfigPatchInput(StrictSerializer):
    """New source parameters of a web or git asset (all of them; a secret left out
    keeps its value). ``sourceType``, if given, must be the asset's."""

    sourceType = SourceTypeField(choices=sorted(SOURCE_TYPES), required=False)
    parameters = serializers.DictField()


def _optional(field_class, **kwargs):
    return field_class(required=False, allow_null=True, **kwargs)


class AutoUpdateInput(StrictSerializer):
    """API.md ``autoUpdate`` of a create or PATCH body (``autoUpdateConfig``'s shape;
    what was read may be sent back). Which members a strategy and frequency take,
    the capabilities and the time zone are checked by
    ``assets_app.autoupdate.checks``."""

    strategy = serializers.ChoiceField(choices=AutoUpdateStrategy.choices)
    pollFrequency = _optional(serializers.ChoiceField, choices=PollFrequency.choices)
    pollDay = _optional(serializers.ChoiceField, choices=Weekday.choices)
    pollDayOfMonth = _optional(serializers.IntegerField, min_value=1, max_value=28)
    pollHour = _optional(serializers.IntegerField, min_value=0, max_value=23)
    pollMinute = _optional(serializers.IntegerField, min_value=0, max_value=59)
    timezone = _optional(
        serializers.CharField, max_length=64, help_text="IANA, default UTC."
    )
    filter = _optional(
        serializers.CharField, max_length=500, allow_blank=True,
        help_text="WEBHOOK of a git asset: only pushes changing a file matching "
        "this gitignore-style pattern start an update.",
    )  # fmt: skip
    webhookAuthMode = _optional(
        serializers.ChoiceField, choices=WebhookAuthMode.choices,
        help_text="WEBHOOK: how deliveries authenticate; default HMAC_SHA256.",
    )  # fmt: skip


def auto_update_settings(data: dict | None) -> AutoUpdateSettings | None:
    """The validated ``autoUpdate`` member as the services take it."""
    if data is None:
        return None
    return AutoUpdateSettings(
        strategy=data["strategy"],
        poll_frequency=data.get("pollFrequency"),
        poll_day=data.get("pollDay"),
        poll_day_of_month=data.get("pollDayOfMonth"),
        poll_hour=data.get("pollHour"),
        poll_minute=data.get("pollMinute"),
        timezone=data.get("timezone"),
        filter=data.get("filter"),
        webhook_auth_mode=data.get("webhookAuthMode"),
    )


class AssetCreateInput(StrictSerializer):
    config = SourceConfigInput()
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    embedding = EmbeddingInput(required=False)
    budget = BudgetInput(required=False)
    currencyBudget = CurrencyBudgetInput(required=False)
    autoUpdate = AutoUpdateInput(required=False, allow_null=True)


class UploadPayloadInput(AssetCreateInput):
    """The ``payload`` part of ``POST /assets:file``: the create body, ``config``
    optional (an upload has no parameters)."""

    config = SourceConfigInput(required=False)


class AssetPatchInput(StrictSerializer):
    displayName = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )
    embedding = EmbeddingInput(required=False)
    budget = BudgetInput(required=False)
    currencyBudget = CurrencyBudgetInput(required=False)
    autoUpdate = AutoUpdateInput(
        required=False, help_text="Replaces the auto-update settings."
    )
    disableAutoUpdate = serializers.BooleanField(
        required=False, help_text="true removes webhook and schedule; wins over "
        "autoUpdate.",
    )  # fmt: skip
    sourceConfig = SourceConfigPatchInput(required=False)


class RefreshInput(StrictSerializer):
    documentIds = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    force = serializers.BooleanField(required=False, default=False)
