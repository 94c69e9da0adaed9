import logging

from django.apps import AppConfig

logger = logging.getLogger("ragdesk.operations")


def reap_at_worker_start(sender, proc_name=None, **kwargs) -> None:
    """django-q2 ``post_spawn``: each worker process, when a cluster starts (or
    replaces a dead worker), requeues operations whose worker was lost, rather than
    leaving them until the next scheduled reaper run (issue 4, "Liveness")."""
    from operations_app.tasks import reap_stale_operations

    try:
        if n := reap_stale_operations():
            logger.warning("%s requeued %d operation(s) of lost workers", proc_name, n)
    except Exception:  # noqa: BLE001 - a worker must start even if this fails
        logger.exception("reaper at worker start failed")


class OperationsAppConfig(AppConfig):
    name = "operations_app"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        post_spawn.connect(reap_at_worker_start, dispatch_uid="ragdesk-reap-at-start")
