from .task import ingestion_run

__all__ = ["ingestion_run"]
