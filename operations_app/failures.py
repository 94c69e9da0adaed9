"""What an operation records about documents besides its counters: which documents
it failed and why (the API's ``failedDocuments``), and chunks of it that a user's
document deletion removed (for operations_app/consistency/)."""

from __future__ import annotations

from .models import Operation, OperationDocumentFailure
from .services import _event


def operation_record_document_failures(
    *, operation_id, failures: list[tuple[object, str]]
) -> None:
    """Record ``failures`` (document id, reason) of a RUNNING operation as
    OperationDocumentFailure rows: the list behind the API's ``failedDocuments`` and
    the dashboard's "failed" details. Call inside the batch transaction that marks
    those documents FAILED and counts them (after ``operation_add_progress``, after
    the documents' rows exist). A document failed again by the same operation (a
    resumed run) keeps one row with the latest reason."""
    if not failures:
        return
    OperationDocumentFailure.objects.bulk_create(
        [
            OperationDocumentFailure(
                operation_id=operation_id, document_id=doc_id, error_message=reason
            )
            for doc_id, reason in failures
        ],
        update_conflicts=True,
        unique_fields=["operation", "document"],
        update_fields=["error_message"],
    )


def operation_note_chunks_removed(*, removed: dict, actor: str, reason: str) -> None:
    """Record a ``CHUNKS_REMOVED`` event on each operation of ``removed`` (operation
    id → chunks of it deleted) when chunks go outside any operation (a document
    deleted through the API or dashboard). The consistency check
    (operations_app/consistency/) then knows that such an operation's chunkCount
    counts chunks no longer stored. Call inside the deleting transaction."""
    for op in Operation.objects.filter(id__in=[k for k in removed if k]):
        _event(op, "CHUNKS_REMOVED", actor, msg=f"{removed[op.id]} chunks: {reason}")
