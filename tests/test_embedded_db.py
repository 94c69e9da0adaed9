"""The embedded PostgreSQL's settings (config/embedded_db.py)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from config import embedded_db

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="embedded server only"
)


def test_shared_buffers_is_a_quarter_of_memory_between_128_mb_and_4_gb(monkeypatch):
    monkeypatch.delenv("RAGDESK_PG_SHARED_BUFFERS", raising=False)
    value = embedded_db.shared_buffers()
    assert value.endswith("MB") and 128 <= int(value[:-2]) <= 4096
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert int(value[:-2]) == min(max(total // 4 // 2**20, 128), 4096)
    monkeypatch.setenv("RAGDESK_PG_SHARED_BUFFERS", "1GB")
    assert embedded_db.shared_buffers() == "1GB"


@pytest.mark.django_db
def test_the_server_has_shared_buffers_written_for_its_next_start():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' "
            "AND sourcefile LIKE '%%postgresql.auto.conf'"
        )
        assert cursor.fetchall() == [(embedded_db.shared_buffers(),)]
