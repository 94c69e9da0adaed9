"""DOCX and CSV uploads (issue 5): real files made here, parsed, and ingested."""

from __future__ import annotations

import io

import docx
import pytest

from assets_app.ingestion.office import CSV, DOCX
from assets_app.ingestion.parsing import ParseError, content_type_for, parse
from assets_app.models import Chunk, Document
from assets_app.services import asset_create_from_uploads
from tests.conftest import upload


def docx_bytes() -> bytes:
    d = docx.Document()
    d.add_heading("Handbook", level=1)
    d.add_paragraph("Welcome to the team.")
    d.add_heading("Holidays", level=2)
    d.add_paragraph("Everyone gets 30 days of holiday.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Team", "Lead"
    table.cell(1, 0).text, table.cell(1, 1).text = "Search", "Ada"
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def text_of(data: bytes, content_type: str) -> str:
    return "\n\n".join(s.text for s in parse(data, content_type))


@pytest.mark.parametrize(
    ("name", "expected"), [("Report.DOCX", DOCX), ("rows.csv", CSV), ("old.doc", None)]
)
def test_docx_and_csv_are_recognised_by_extension(name, expected):
    assert content_type_for(name) == expected


def test_docx_keeps_headings_paragraphs_and_tables_in_order():
    assert text_of(docx_bytes(), DOCX) == (
        "# Handbook\n\nWelcome to the team.\n\n## Holidays\n\n"
        "Everyone gets 30 days of holiday.\n\n| Team | Lead |\n| --- | --- |\n"
        "| Search | Ada |"
    )


def test_a_file_that_is_not_a_docx_package_is_a_parse_error():
    with pytest.raises(ParseError, match="not a readable DOCX"):
        text_of(b"PK\x03\x04 not really a zip", DOCX)


def test_csv_rows_become_lines_that_keep_their_headers():
    data = b"name,team,city\nAda,Search,London\n\nLin,,Berlin\n"
    assert text_of(data, CSV) == (
        "name: Ada; team: Search; city: London\n\nname: Lin; city: Berlin"
    )


def test_semicolon_csv_is_sniffed():
    assert text_of(b"a;b\n1;2\n3;4\n", CSV) == "a: 1; b: 2\n\na: 3; b: 4"


def test_a_csv_of_blank_rows_is_a_parse_error():
    with pytest.raises(ParseError):
        text_of(b",,\n,,\n", CSV)


def test_docx_and_csv_uploads_are_ingested_with_heading_paths(
    editor_member, run_queued
):
    asset, _op = asset_create_from_uploads(
        actor=editor_member,
        display_name="office",
        files=[
            upload("handbook.docx", docx_bytes()),
            upload("staff.csv", b"name,team\nAda,Search\n"),
        ],
    )
    run_queued()
    docs = {d.file_name: d for d in Document.objects.filter(asset=asset)}
    assert {d.status for d in docs.values()} == {"COMPLETED"}
    assert docs["handbook.docx"].content_type == DOCX
    holiday = Chunk.objects.get(
        document=docs["handbook.docx"], content__contains="30 days"
    )
    assert holiday.heading_path[:1] == ["Handbook"]
    row = Chunk.objects.get(document=docs["staff.csv"])
    assert row.content == "name: Ada; team: Search"
