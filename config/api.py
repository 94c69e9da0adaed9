"""What every API view shares: the tenant from the URL, epoch-ms times, strict
bodies. Keyset pagination is in config.pagination; authentication and throttling
are in config.api_auth."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from rest_framework.views import APIView

from assets_app.selectors import membership_get
from config.errors import ValidationFailed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TenantAPIView(APIView):
    """Resolves ``self.membership`` from the URL's ``tenant`` slug after
    authentication: unknown tenant → 404, not a member → 403. A JWT's
    authentication has usually loaded it already (config.api_auth)."""

    membership = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        loaded = getattr(request, "tenant_membership", None)
        if (
            loaded is not None
            and loaded.user_id == request.user.pk
            and loaded.tenant.slug == kwargs["tenant"]
        ):
            self.membership = loaded
        else:
            self.membership = membership_get(
                user=request.user, tenant_slug=kwargs["tenant"]
            )

    @property
    def tenant(self):
        return self.membership.tenant


class RejectUnknownFieldsMixin:
    """Serializer mixin: body members that are not writable fields are a 400 naming
    them (API.md "Conventions": the seed's schemas forbid extra properties)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                takes = ", ".join(sorted(known)) or "no fields"
                raise ValidationFailed(
                    f"Unknown field{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(unknown)}; this request takes {takes}.",
                    errors={name: ["Unknown field."] for name in unknown},
                )
        return super().to_internal_value(data)


def epoch_ms(value: datetime | None) -> int | None:
    """Milliseconds since the Unix epoch (UTC), or None (API.md "Conventions").
    Exact integer arithmetic, no float in between."""
    return None if value is None else (value - _EPOCH) // timedelta(milliseconds=1)
