from django import template
from django.utils import timezone

from operations_app.selectors import operations_any_active

register = template.Library()


@register.filter
def elapsed(op) -> str:
    """Seconds from start to completion (or now, while running), e.g. "12.3 s"."""
    if op.started_at is None:
        return "—"
    end = op.completed_at or timezone.now()
    seconds = max((end - op.started_at).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


@register.filter
def any_active(operations) -> bool:
    return operations_any_active(operations)
