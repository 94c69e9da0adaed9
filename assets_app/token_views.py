"""The personal API tokens page (/account/tokens/): the user's own tokens, in every
tenant they belong to, so not tenant-scoped. Create shows the plain token once;
revoke swaps the row (htmx) or redirects back (plain form post)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.errors import ApplicationError, NotFound

from . import api_tokens, selectors
from .forms import ApiTokenForm, add_service_errors

PAGE = "assets_app/api_tokens.html"


@login_required
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, plain = api_tokens.api_token_create(
                user=request.user, name=form.cleaned_data["name"]
            )
            created, form = {"token": token, "plain": plain}, ApiTokenForm()
        except ApplicationError as exc:
            add_service_errors(form, exc)
    response = render(
        request,
        PAGE,
        {
            "form": form,
            "created": created,
            "tokens": api_tokens.api_tokens_of(user=request.user),
            "memberships": selectors.memberships_of(user=request.user),
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the one response holding a plain token
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
