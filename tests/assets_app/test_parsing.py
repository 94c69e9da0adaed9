"""Bytes → text sections: plain text, Markdown, HTML (to Markdown) and PDF pages."""

from __future__ import annotations

import pytest
from fpdf import FPDF

from assets_app.ingestion.parsing import ParseError, Section, content_type_for, parse


def pdf_bytes(pages: list[str | None]) -> bytes:
    """A PDF with one page per entry: its text, or None for a page with only a drawn
    rectangle (no text layer)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 80, 40)
        else:
            pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def sections(data: bytes | str, content_type: str) -> list[Section]:
    raw = data.encode() if isinstance(data, str) else data
    return list(parse(raw, content_type))


# -- content types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", "text/plain"),
        ("README.MD", "text/markdown"),
        ("guide.markdown", "text/markdown"),
        ("page.htm", "text/html"),
        ("Page.HTML", "text/html"),
        ("paper.pdf", "application/pdf"),
        ("setup.exe", None),
        ("archive.pdf.zip", None),
        ("pdf", None),
    ],
)
def test_content_type_follows_the_extension(name, expected):
    assert content_type_for(name) == expected


# -- plain text and Markdown --------------------------------------------------------


def test_plain_text_is_one_section_without_page_number():
    text = "First line.\nSecond line.\n"
    assert sections(text, "text/plain") == [Section(text, page_number=None)]


def test_utf8_byte_order_mark_is_dropped():
    assert sections(b"\xef\xbb\xbfhello", "text/plain")[0].text == "hello"


def test_windows_1252_text_is_decoded():
    assert (
        sections("café – naïve".encode("cp1252"), "text/plain")[0].text
        == "café – naïve"
    )


def test_markdown_text_is_kept_verbatim():
    md = "# Title\n\nSome *text*.\n\n## Sub\n\n- item\n"
    assert sections(md, "text/markdown") == [Section(md)]


@pytest.mark.parametrize("content_type", ["text/plain", "text/markdown", "text/html"])
@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_or_blank_text_is_a_parse_error(content_type, data):
    with pytest.raises(ParseError):
        sections(data, content_type)


def test_binary_bytes_named_as_text_are_a_parse_error():
    with pytest.raises(ParseError, match="binary"):
        sections(b"MZ\x90\x00\x03\x00\x00\x00", "text/plain")


# -- HTML ---------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><title>Docs</title><style>p {color: red}</style>
</head><body>
<header><nav><a href="/">Home</a> <a href="/docs">Docs</a> <a href="/blog">Blog</a>
</nav>
</header>
<main><article>
<h1>Install guide</h1>
<p>Run the installer and follow the prompts on screen until it reports success.</p>
<h2>Upgrade</h2>
<p>Stop the service first, then run the <b>new</b> installer over the old one.</p>
<ul><li>back up the data folder</li><li>keep the old configuration</li></ul>
</article></main>
<script>window.tracking = "SECRET_TRACKER";</script>
<footer>Copyright 2024 ACME. All rights reserved.</footer>
</body></html>"""


def test_html_becomes_markdown_with_headings():
    (section,) = sections(PAGE, "text/html")
    lines = section.text.splitlines()
    assert "# Install guide" in lines
    assert "## Upgrade" in lines
    assert (
        "Stop the service first, then run the **new** installer over the old one."
        in lines
    )
    assert "- back up the data folder" in lines
    assert section.page_number is None


def test_html_drops_scripts_styles_and_markup():
    text = sections(PAGE, "text/html")[0].text
    assert "SECRET_TRACKER" not in text
    assert "color: red" not in text
    assert "<p>" not in text and "<h1>" not in text


def test_tiny_html_page_still_yields_its_text():
    assert "hello there" in sections("<p>hello there</p>", "text/html")[0].text


def test_html_without_visible_text_is_a_parse_error():
    with pytest.raises(ParseError):
        sections("<html><body><script>var x = 1;</script></body></html>", "text/html")


# -- PDF ----------------------------------------------------------------------------


def test_pdf_yields_one_section_per_page_with_its_number():
    data = pdf_bytes(["Alpha page text.", "Beta page text.", "Gamma page text."])
    got = sections(data, "application/pdf")
    assert [s.page_number for s in got] == [1, 2, 3]
    assert [s.text.strip() for s in got] == [
        "Alpha page text.",
        "Beta page text.",
        "Gamma page text.",
    ]


def test_pdf_page_without_text_is_skipped_but_keeps_later_numbers():
    got = sections(pdf_bytes(["Alpha.", None, "Gamma."]), "application/pdf")
    assert [(s.page_number, s.text.strip()) for s in got] == [
        (1, "Alpha."),
        (3, "Gamma."),
    ]


def test_pdf_pages_are_parsed_lazily():
    stream = parse(pdf_bytes(["Alpha.", "Beta."]), "application/pdf")
    assert next(stream).page_number == 1  # the first page comes before the rest is read


def test_pdf_without_a_text_layer_is_a_parse_error():
    with pytest.raises(ParseError, match="no text layer"):
        sections(pdf_bytes([None, None]), "application/pdf")


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\nthis is not really a pdf\n",
        pdf_bytes(["Alpha page text."])[:300],  # truncated
        b"%PDF" + b"\x00" * 64,
    ],
    ids=["garbage", "truncated", "zeros"],
)
def test_corrupt_pdf_is_a_parse_error(data):
    with pytest.raises(ParseError, match="corrupt|unreadable|no text"):
        sections(data, "application/pdf")


def test_file_named_pdf_without_pdf_header_is_a_parse_error():
    with pytest.raises(ParseError, match="not a PDF"):
        sections(b"just text", "application/pdf")


def _encrypted_pdf(user_password: str) -> bytes:
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "Restricted but readable.")
    # RC4: fpdf2's AES needs the cryptography package, which is not installed.
    pdf.set_encryption(
        owner_password="owner-secret",
        user_password=user_password,
        encryption_method=EncryptionMethod.RC4,
    )
    return bytes(pdf.output())


def test_pdf_encrypted_with_an_empty_user_password_is_read():
    got = sections(_encrypted_pdf(""), "application/pdf")
    assert [(s.page_number, s.text.strip()) for s in got] == [
        (1, "Restricted but readable.")
    ]


def test_password_protected_pdf_is_a_parse_error_saying_so():
    with pytest.raises(ParseError, match="password-protected"):
        sections(_encrypted_pdf("user-secret"), "application/pdf")


def test_long_text_is_parsed_in_parts_cut_at_blank_lines_that_rejoin_exactly():
    from assets_app.ingestion import parsing

    paragraph = "word " * 2000  # 10,000 characters
    text = "\n\n\n".join(paragraph for _ in range(100))  # ~1 MB, blank-line runs of 2
    parts = [s.text for s in parsing.parse(text.encode(), "text/plain")]
    assert len(parts) >= 4
    assert all(len(p) <= parsing.SECTION_CHARS for p in parts)
    assert "\n\n".join(parts) == text


def test_chunk_offsets_and_lines_stay_exact_across_text_parts(monkeypatch):
    from assets_app.ingestion import parsing
    from assets_app.ingestion.chunking import DocumentChunker

    monkeypatch.setattr(parsing, "SECTION_CHARS", 500)
    text = "\n\n".join(f"Line {i} of paragraph {i}.\nSecond line {i}." for i in range(200))
    chunker = DocumentChunker(chunk_size=40, chunk_overlap=0, markdown=False)
    pieces = [
        piece
        for section in parsing.parse(text.encode(), "text/plain")
        for piece in chunker.split(section.text, section.page_number)
    ]
    assert len(pieces) > 10
    for piece in pieces:
        assert text[piece.start_char_idx : piece.end_char_idx] == piece.content
        assert text.count("\n", 0, piece.start_char_idx) + 1 == piece.start_line
