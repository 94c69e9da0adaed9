"""Bytes → text sections. PDF keeps page numbers (one section a page, yielded lazily so
a 500-page file can be cancelled between pages); Markdown, HTML (converted to
Markdown by trafilatura) and DOCX (office.py) keep headings for heading paths; CSV
rows become ``header: value`` lines (office.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from .office import CSV, DOCX, OfficeParseError, csv_to_text, docx_to_markdown

SUPPORTED_TYPES: dict[str, tuple[str, ...]] = {
    "text/plain": (".txt",),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "application/pdf": (".pdf",),
    DOCX: (".docx",),
    CSV: (".csv",),
}
EXTENSION_TYPES = {ext: ct for ct, exts in SUPPORTED_TYPES.items() for ext in exts}
MARKDOWN_TYPES = {"text/markdown", "text/html", DOCX}


class ParseError(Exception):
    """The document cannot be turned into text; the message says why, for a person."""


@dataclass(frozen=True)
class Section:
    text: str
    page_number: int | None = None


def content_type_for(file_name: str) -> str | None:
    """The supported content type for a file name's extension, or None."""
    lower = file_name.lower()
    for ext, ct in EXTENSION_TYPES.items():
        if lower.endswith(ext):
            return ct
    return None


def parse(data: bytes, content_type: str) -> Iterator[Section]:
    """Yield the document's text sections. Raises ParseError (possibly after some pages
    were yielded) for corrupt, empty or text-less input."""
    if content_type == "application/pdf":
        yield from _parse_pdf(data)
        return
    if content_type == DOCX:
        try:
            text = docx_to_markdown(data)
        except OfficeParseError as exc:
            raise ParseError(str(exc)) from exc
    else:
        text = _decode(data)
    if content_type == "text/html":
        text = _html_to_markdown(text)
    elif content_type == CSV:
        try:
            text = csv_to_text(text)
        except OfficeParseError as exc:
            raise ParseError(str(exc)) from exc
    if not text.strip():
        raise ParseError("The document contains no text.")
    for part in _paragraph_sections(text):
        yield Section(part)


SECTION_CHARS = 262_144  # a long text is split in parts of about this many characters


def _paragraph_sections(text: str) -> Iterator[str]:
    """``text`` in parts of at most about SECTION_CHARS, cut at blank lines (a part
    longer than that only if it has no blank line), so that a multi-megabyte file is
    chunked, embedded and stored part by part: progress shows early and a cancel is
    seen between parts. The parts joined by "\n\n" are ``text`` again, which keeps the
    chunker's offsets and line numbers exact."""
    start = 0
    while len(text) - start > SECTION_CHARS:
        cut = text.rfind("\n\n", start, start + SECTION_CHARS)
        if cut <= start:
            cut = text.find("\n\n", start + SECTION_CHARS)
            if cut == -1:
                break
        yield text[start:cut]
        start = cut + 2
    yield text[start:]


def _decode(data: bytes) -> str:
    if not data:
        raise ParseError("The file is empty.")
    if b"\x00" in data[:8192]:
        raise ParseError("The file looks binary, not text.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _html_to_markdown(html: str) -> str:
    import html_text
    import trafilatura

    extracted = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True,
        favor_recall=True,
    )
    if extracted and extracted.strip():
        return extracted
    return html_text.extract_text(html)  # short pages trafilatura deems boilerplate


def _parse_pdf(data: bytes) -> Iterator[Section]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    if not data.startswith(b"%PDF"):
        raise ParseError("The file is not a PDF (no %PDF header).")
    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are encrypted with an empty user password (only copying or printing
        # is restricted): every viewer opens them, and so do we. Checked before reading
        # the pages, which fails on an encrypted file.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("The PDF is password-protected; upload an unprotected copy.")
        pages = len(reader.pages)
    except DependencyError as exc:
        raise ParseError(f"The PDF's encryption is not supported: {exc}") from exc
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"The PDF is corrupt or unreadable: {exc}") from exc
    yielded = False
    for number in range(pages):
        try:
            text = reader.pages[number].extract_text() or ""
        except Exception as exc:  # pypdf raises many kinds on malformed pages
            raise ParseError(f"Page {number + 1} of the PDF is unreadable: {exc}") from exc
        if text.strip():
            yielded = True
            yield Section(text, page_number=number + 1)
    if not yielded:
        raise ParseError(
            "The PDF has no text layer (a scan?); ragdesk does not run OCR."
        )
