"""django-q2 entry points: ids in, one service call. Safe to redeliver: a task for an
operation that is not PENDING does nothing (operation_start returns None)."""

from assets_app.ingestion import ingestion_run


def run_operation(operation_id: str) -> str:
    return ingestion_run(operation_id=operation_id)
