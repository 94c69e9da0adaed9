"""First-run set-up, safe to repeat: an admin user, a demo tenant, a demo asset.

The admin's password comes from RAGDESK_ADMIN_PASSWORD, or is generated and printed
once (only when the user is created). The demo asset ingests the project's docs/ folder
so the dashboard opens on a real operation."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from assets_app.models import Asset, Membership, Role, Tenant
from assets_app.services import asset_create_from_folder


class Command(BaseCommand):
    help = "Create the first admin user, a demo tenant and its demo asset (idempotent)."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("RAGDESK_ADMIN_USER", "admin")
        user = User.objects.filter(username=username).first()
        if user is None:
            password = os.environ.get("RAGDESK_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username, "", password)
            shown = "(from RAGDESK_ADMIN_PASSWORD)" if os.environ.get(
                "RAGDESK_ADMIN_PASSWORD") else password
            self.stdout.write(self.style.SUCCESS(
                f"\n  Admin user created: {username} / {shown}\n"
                "  This password is shown once; change it in the admin.\n"
            ))
        tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
        membership, _ = Membership.objects.get_or_create(
            user=user, tenant=tenant, defaults={"role": Role.ADMIN}
        )
        docs = settings.BASE_DIR / "docs"
        if docs.is_dir() and not Asset.objects.filter(tenant=tenant).exists():
            asset_create_from_folder(
                actor=membership, display_name="ragdesk docs", path=str(docs), glob="**/*.md"
            )
            self.stdout.write("  Demo asset 'ragdesk docs' created; its ingestion is queued.")
