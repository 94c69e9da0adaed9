"""The auto-update settings an interface passes to the services, and their rules:
the source type's capabilities (sources/descriptors.py), the fields each strategy and
frequency takes, the time zone. Errors are keyed by their API path
(``autoUpdate.pollHour``); the dashboard's form maps them onto its fields."""

from __future__ import annotations

from dataclasses import dataclass, replace

from assets_app.models import (
    AutoUpdateStrategy,
    PollFrequency,
    SourceType,
    WebhookAuthMode,
)
from assets_app.sources.descriptors import SOURCE_TYPES
from config.errors import ValidationFailed

from .timing import timezone_names
from .webhooks import filter_spec

F = PollFrequency
# The schedule fields each frequency takes besides pollMinute (and pollHour, where
# taken, defaults to 0; the day fields are required).
TAKES = {
    F.HOURLY: frozenset(),
    F.DAILY: frozenset({"pollHour"}),
    F.WEEKLY: frozenset({"pollHour", "pollDay"}),
    F.MONTHLY: frozenset({"pollHour", "pollDayOfMonth"}),
}
SCHEDULE_FIELDS = ("pollFrequency", "pollDay", "pollDayOfMonth", "pollHour",
                   "pollMinute", "timezone")  # fmt: skip


@dataclass(frozen=True)
class AutoUpdateSettings:
    """API.md ``autoUpdate`` (``autoUpdateConfig``) in Python names; None = not
    given. ``webhook_auth_mode`` picks the webhook's ``authMode`` (not in API.md's
    config: docs/api.md, "Decisions")."""

    strategy: str
    poll_frequency: str | None = None
    poll_day: str | None = None
    poll_day_of_month: int | None = None  # 1–28
    poll_hour: int | None = None  # 0–23
    poll_minute: int | None = None  # 0–59
    timezone: str | None = None  # IANA
    filter: str | None = None  # one gitignore-style pattern
    webhook_auth_mode: str | None = None

    def wire(self) -> dict:
        """The given fields under their API names."""
        return {
            "strategy": self.strategy, "pollFrequency": self.poll_frequency,
            "pollDay": self.poll_day, "pollDayOfMonth": self.poll_day_of_month,
            "pollHour": self.poll_hour, "pollMinute": self.poll_minute,
            "timezone": self.timezone, "filter": self.filter,
            "webhookAuthMode": self.webhook_auth_mode,
        }  # fmt: skip


def _capability_errors(source_type: str, strategy: str) -> dict[str, list[str]]:
    descriptor = SOURCE_TYPES[source_type]
    label = SourceType(source_type).label
    if not descriptor.auto_update:
        return {"autoUpdate": [
            f"{label} cannot update themselves: their content changes only through "
            "ragdesk (upload new files or refresh)."]}  # fmt: skip
    if strategy == AutoUpdateStrategy.WEBHOOK and not descriptor.webhook_registration:
        return {"autoUpdate.strategy": [f"{label} take no webhook; use POLL."]}
    if strategy == AutoUpdateStrategy.POLL and not descriptor.poll_schedule:
        return {"autoUpdate.strategy": [f"{label} cannot be polled; use WEBHOOK."]}
    return {}


def _poll_errors(s: AutoUpdateSettings) -> dict[str, list[str]]:
    given = s.wire()
    if s.poll_frequency is None:
        return {"autoUpdate.pollFrequency": ["Required with POLL."]}
    errors: dict[str, list[str]] = {}
    takes = TAKES[s.poll_frequency]
    for name in ("pollDay", "pollDayOfMonth", "pollHour"):
        if name not in takes and given[name] is not None:
            errors[f"autoUpdate.{name}"] = [
                f"Not used with {s.poll_frequency}; leave it out."]  # fmt: skip
        elif name in takes and name != "pollHour" and given[name] is None:
            errors[f"autoUpdate.{name}"] = [f"Required with {s.poll_frequency}."]
    if s.timezone is not None and s.timezone not in timezone_names():
        errors["autoUpdate.timezone"] = [
            "Not a known IANA time zone (such as Europe/Berlin or UTC)."]  # fmt: skip
    if s.filter is not None:
        errors["autoUpdate.filter"] = [
            "A filter applies to webhook deliveries (the files a push changed); a "
            "poll re-reads the whole source. Leave it out."]  # fmt: skip
    if s.webhook_auth_mode is not None:
        errors["autoUpdate.webhookAuthMode"] = ["Only for WEBHOOK; leave it out."]
    return errors


def _webhook_errors(s: AutoUpdateSettings) -> dict[str, list[str]]:
    errors = {
        f"autoUpdate.{name}": ["Only for POLL; leave it out."]
        for name in SCHEDULE_FIELDS
        if s.wire()[name] is not None
    }
    if s.filter:
        try:
            filter_spec(s.filter)
        except (ValueError, TypeError) as exc:
            errors["autoUpdate.filter"] = [f"Not a valid pattern: {exc}"]
    return errors


def auto_update_check(
    *, source_type: str, settings: AutoUpdateSettings
) -> AutoUpdateSettings:
    """``settings`` completed with defaults (POLL: minute 0, hour 0 where it is
    used, UTC; WEBHOOK: HMAC_SHA256), after checking them against the source type's
    capabilities and the rules above. Raises ValidationFailed with errors by API
    path."""
    errors = _capability_errors(source_type, settings.strategy)
    if not errors:
        if settings.strategy == AutoUpdateStrategy.POLL:
            errors = _poll_errors(settings)
        else:
            errors = _webhook_errors(settings)
    if errors:
        raise ValidationFailed("The auto-update settings are invalid.", errors=errors)
    if settings.strategy == AutoUpdateStrategy.WEBHOOK:
        return replace(
            settings,
            filter=settings.filter or None,
            webhook_auth_mode=settings.webhook_auth_mode or WebhookAuthMode.HMAC_SHA256,
        )
    takes_hour = "pollHour" in TAKES[settings.poll_frequency]
    return replace(
        settings,
        poll_minute=settings.poll_minute or 0,
        poll_hour=(settings.poll_hour or 0) if takes_hour else None,
        timezone=settings.timezone or "UTC",
    )
