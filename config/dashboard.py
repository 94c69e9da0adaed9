"""What every dashboard view shares: resolving the tenant from the URL for the
logged-in user, and turning application errors into HTTP answers."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404

from assets_app.selectors import membership_get, memberships_of
from config.errors import NotFound, PermissionDenied


def tenant_view(view):
    """Decorate a view taking ``(request, membership, ...)``: the URL's ``tenant`` slug
    becomes the user's Membership (404 unknown tenant, 403 non-member), and
    ``request.memberships`` lists the user's tenants for the switcher."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, tenant: str, *args, **kwargs):
        try:
            membership = membership_get(user=request.user, tenant_slug=tenant)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        request.memberships = list(memberships_of(user=request.user))
        request.membership = membership
        try:
            return view(request, membership, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc

    return wrapper
