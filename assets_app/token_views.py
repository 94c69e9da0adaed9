"""The personal API tokens page (/account/tokens/): the user's own tokens, in every
tenant they belong to, so not tenant-scoped. Create redirects to the page, which
shows the plain token once; revoke swaps the row (htmx) or redirects back (plain
form post)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.errors import ApplicationError, NotFound

from . import api_tokens, selectors
from .forms import ApiTokenForm, add_service_errors

PAGE = "assets_app/api_tokens.html"


# The plain token of a create, kept in the (database-backed) session from the POST to
# the GET it redirects to, and popped there: shown once, and a reload of the page
# cannot post the form again (POST-redirect-GET).
CREATED_KEY = "api_token_created"


@login_required
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, plain = api_tokens.api_token_create(
                user=request.user, name=form.cleaned_data["name"]
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            request.session[CREATED_KEY] = {"id": str(token.id), "plain": plain}
            return redirect("tokens:list")
    tokens = api_tokens.api_tokens_of(user=request.user)
    created = None
    if request.method == "GET" and (kept := request.session.pop(CREATED_KEY, None)):
        token = next((t for t in tokens if str(t.id) == kept["id"]), None)
        created = {"token": token, "plain": kept["plain"]} if token else None
    response = render(
        request,
        PAGE,
        {
            "form": form,
            "created": created,
            "tokens": tokens,
            "memberships": selectors.memberships_of(user=request.user),
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # it may hold a plain token
    return response


@require_POST
@login_required
def token_revoke(request, token_id):
    try:
        token = api_tokens.api_token_revoke(user=request.user, token_id=token_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.htmx:
        return render(request, f"{PAGE}#token-row", {"token": token})
    messages.success(request, f"Token “{token.name}” is revoked.")
    return redirect("tokens:list")
