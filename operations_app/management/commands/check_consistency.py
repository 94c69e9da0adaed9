"""``manage.py check_consistency [--tenant SLUG] [--json] [--stale-after SECONDS]``:
verify exactly-once accounting (operations_app/consistency/ lists the invariants).
Exit 0 with a one-line summary when everything holds; exit 1 with one line per
violation (or the JSON report) otherwise; exit 2 for an unknown tenant."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assets_app.models import Tenant
from operations_app.consistency import INVARIANTS, consistency_check


class Command(BaseCommand):
    help = "Check that operation counters and asset totals equal what is stored."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (its slug)")
        parser.add_argument(
            "--json", action="store_true", help="print the report as JSON"
        )
        parser.add_argument(
            "--stale-after",
            type=float,
            default=settings.RAGDESK_STALE_AFTER_SECONDS,
            help="heartbeat age (s) past which a RUNNING operation counts as lost",
        )

    def handle(self, *args, tenant=None, json=False, stale_after=None, **options):
        scope = None
        if tenant:
            scope = Tenant.objects.filter(slug=tenant).first()
            if scope is None:
                raise CommandError(f"No tenant {tenant!r}.", returncode=2)
        report = consistency_check(tenant=scope, stale_after_seconds=stale_after)
        if json:
            self.stdout.write(_json.dumps(report.as_dict(), indent=2, default=str))
        elif report.ok:
            checked = ", ".join(f"{n} {kind}" for kind, n in report.checked.items())
            self.stdout.write(f"OK: {len(INVARIANTS)} invariants hold ({checked}).")
        else:
            for v in report.violations:
                self.stdout.write(f"[{v.invariant}] {v.subject}: {v.detail}")
            kinds = sorted({v.invariant for v in report.violations})
            self.stdout.write(
                f"FAILED: {len(report.violations)} violation(s) of {', '.join(kinds)}."
            )
        if not report.ok:
            raise SystemExit(1)


_json = json  # the option named ``json`` shadows the module inside handle()
