"""DOCX and CSV → Markdown-ish text for the chunker (issue 5: upload supports PDF,
DOCX, HTML, Markdown, plain text, CSV).

- DOCX (python-docx): paragraphs in body order, "Heading N" / "Title" styles as ATX
  headings (so chunks get heading paths), tables as Markdown pipe tables. Embedded
  images and text boxes are not read (no OCR).
- CSV (the standard library's ``csv``; delimiter sniffed among ``,;\\t|``): the first
  row is the header and every data row becomes one line ``header: value; …``, so a
  chunk cut anywhere still says which column each value belongs to. Rows are
  separated by blank lines, where the parser may cut a large file into parts."""

from __future__ import annotations

import csv
import io
import zipfile

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CSV = "text/csv"


class OfficeParseError(Exception):
    """The file cannot be read; the message is for a person."""


def docx_to_markdown(data: bytes) -> str:
    """The text of a .docx file as Markdown. Raises OfficeParseError for a file that
    is not a readable DOCX (zip) package."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise OfficeParseError(
            f"The file is not a readable DOCX document: {exc}"
        ) from exc
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            level = _heading_level(style)
            blocks.append(f"{'#' * level} {text}" if level else text)
        elif isinstance(block, Table):
            blocks.append(_table(block))
    return "\n\n".join(b for b in blocks if b)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        try:
            return min(max(int(style.split()[1]), 1), 6)
        except ValueError:
            return 0
    return 0


def _table(table) -> str:
    rows = [
        [" ".join(cell.text.split()).replace("|", "\\|") for cell in row.cells]
        for row in table.rows
    ]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def csv_to_text(text: str) -> str:
    """Rows of CSV ``text`` as ``header: value; …`` lines (module docstring). Raises
    OfficeParseError when the text is not CSV."""
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [
            r
            for r in csv.reader(io.StringIO(text), dialect)
            if any(c.strip() for c in r)
        ]
    except csv.Error as exc:
        raise OfficeParseError(f"The file is not valid CSV: {exc}") from exc
    if not rows:
        return ""
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    if len(rows) == 1:
        return "; ".join(header)
    lines = []
    for row in rows[1:]:
        names = header + [f"column {i + 1}" for i in range(len(header), len(row))]
        lines.append(
            "; ".join(
                f"{n}: {v.strip()}"
                for n, v in zip(names, row, strict=False)
                if v.strip()
            )
        )
    return "\n\n".join(lines)
