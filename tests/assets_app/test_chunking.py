"""Text → chunks: token limits, overlap, offsets, lines, heading paths, cl100k
counts."""

from __future__ import annotations

import pytest

from assets_app.ingestion.chunking import (
    DocumentChunker,
    _encoding,
    count_tokens,
    count_tokens_batch,
)

WORDS = " ".join(f"word{i}" for i in range(3000))
LINES = "\n".join(f"Line {i} tells a short story about item {i}." for i in range(120))
PROSE = "\n\n".join(
    f"Paragraph {p}. "
    + " ".join(f"Sentence {p}.{s} has several plain words." for s in range(9))
    for p in range(12)
)


def chunk(text, *, size=64, overlap=0, markdown=False, page=None):
    chunker = DocumentChunker(chunk_size=size, chunk_overlap=overlap, markdown=markdown)
    return list(chunker.split(text, page))


def line_of(text: str, index: int) -> int:
    """1-based line of the character at ``index``."""
    return text.count("\n", 0, index) + 1


# -- tokens -------------------------------------------------------------------------


def test_token_counts_are_cl100k_base():
    # cl100k_base ids; p50k/r50k ("gpt2") would give [31373, 995].
    assert _encoding().encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0


def test_batch_counts_equal_single_counts():
    texts = ["hello world", "", "Ünïcödé – text", LINES[:500]]
    assert count_tokens_batch(texts) == [count_tokens(t) for t in texts]


@pytest.mark.parametrize("text", [WORDS, LINES, PROSE], ids=["words", "lines", "prose"])
@pytest.mark.parametrize(("size", "overlap"), [(32, 0), (64, 16), (200, 50)])
def test_every_chunk_fits_the_chunk_size_and_counts_its_tokens(text, size, overlap):
    pieces = chunk(text, size=size, overlap=overlap)
    assert len(pieces) > 1
    for p in pieces:
        assert 0 < p.token_count <= size
        assert p.token_count == count_tokens(p.content)


def test_small_text_is_one_chunk_equal_to_the_text():
    (piece,) = chunk("Just one sentence.", size=64)
    assert (piece.content, piece.start_char_idx, piece.end_char_idx) == (
        "Just one sentence.",
        0,
        18,
    )
    assert (piece.start_line, piece.end_line, piece.token_count) == (1, 1, 4)


def test_larger_chunk_size_gives_fewer_chunks():
    assert len(chunk(PROSE, size=200)) < len(chunk(PROSE, size=50))


# -- overlap ------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [8, 20])
def test_consecutive_chunks_share_up_to_overlap_tokens(overlap):
    pieces = chunk(WORDS, size=50, overlap=overlap)
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert b.start_char_idx < a.end_char_idx, "chunks should overlap"
        shared = count_tokens(WORDS[b.start_char_idx : a.end_char_idx])
        assert 0 < shared <= overlap


def test_without_overlap_chunks_tile_the_text_in_order():
    pieces = chunk(WORDS, size=50, overlap=0)
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert a.end_char_idx <= b.start_char_idx
        assert WORDS[a.end_char_idx : b.start_char_idx].strip() == ""
    assert pieces[0].start_char_idx == 0
    assert pieces[-1].end_char_idx == len(WORDS)


def test_overlap_does_not_lose_text():
    pieces = chunk(PROSE, size=60, overlap=15)
    covered = set()
    for p in pieces:
        covered.update(range(p.start_char_idx, p.end_char_idx))
    assert all(i in covered for i, ch in enumerate(PROSE) if not ch.isspace())


# -- offsets and lines --------------------------------------------------------------


@pytest.mark.parametrize("text", [WORDS, LINES, PROSE], ids=["words", "lines", "prose"])
@pytest.mark.parametrize("overlap", [0, 16])
def test_offsets_and_lines_locate_the_chunk_in_a_single_section(text, overlap):
    for p in chunk(text, size=48, overlap=overlap):
        assert text[p.start_char_idx : p.end_char_idx] == p.content
        assert p.start_line == line_of(text, p.start_char_idx)
        assert p.end_line == line_of(text, p.end_char_idx - 1)


def test_lines_of_a_chunk_spanning_several_lines():
    pieces = chunk(LINES, size=40)
    assert pieces[0].start_line == 1
    assert pieces[0].end_line == pieces[0].content.count("\n") + 1
    assert pieces[1].start_line == pieces[0].end_line + 1
    assert pieces[-1].end_line == 120


def test_offsets_and_lines_of_later_sections_count_the_blank_line_between():
    pages = [
        "Page one line one.\nPage one line two.",
        "Second page text.",
        "Third\npage.",
    ]
    chunker = DocumentChunker(chunk_size=64, chunk_overlap=0, markdown=False)
    pieces = [p for n, text in enumerate(pages, 1) for p in chunker.split(text, n)]
    joined = "\n\n".join(pages)
    assert [p.page_number for p in pieces] == [1, 2, 3]
    for p in pieces:
        assert joined[p.start_char_idx : p.end_char_idx] == p.content
        assert p.start_line == line_of(joined, p.start_char_idx)
        assert p.end_line == line_of(joined, p.end_char_idx - 1)
    assert [(p.start_line, p.end_line) for p in pieces] == [(1, 2), (4, 4), (6, 7)]


def test_chunks_carry_the_page_number_given():
    assert {p.page_number for p in chunk(WORDS, size=64, page=7)} == {7}
    assert {p.page_number for p in chunk(WORDS, size=64)} == {None}


# -- heading paths ------------------------------------------------------------------

MD = """# Guide

Intro text of the guide.

## Install

Install steps go here.

### Linux

Use the package manager.

## Upgrade

Upgrade steps go here.

# Appendix

Extra notes.
"""


def _paths_by_content(pieces) -> dict[str, list[str]]:
    return {p.content.splitlines()[-1]: p.heading_path for p in pieces}


def test_markdown_chunks_get_their_heading_path():
    paths = _paths_by_content(chunk(MD, size=12, markdown=True))
    assert paths["Intro text of the guide."] == ["Guide"]
    assert paths["Install steps go here."] == ["Guide", "Install"]
    assert paths["Use the package manager."] == ["Guide", "Install", "Linux"]
    assert paths["Upgrade steps go here."] == ["Guide", "Upgrade"]
    assert paths["Extra notes."] == ["Appendix"]


def test_a_chunk_starting_with_a_heading_is_under_that_heading():
    pieces = chunk(MD, size=12, markdown=True)
    starting = [p for p in pieces if p.content.startswith("### Linux")]
    assert starting and starting[0].heading_path == ["Guide", "Install", "Linux"]


def test_markdown_offsets_match_the_text():
    for p in chunk(MD, size=16, overlap=4, markdown=True):
        assert MD[p.start_char_idx : p.end_char_idx] == p.content


def test_headings_carry_over_to_the_next_section():
    chunker = DocumentChunker(chunk_size=64, chunk_overlap=0, markdown=True)
    list(chunker.split("# Part one\n\nFirst text.\n\n## Detail\n\nMore."))
    (piece,) = chunker.split("Continued text without a heading.")
    assert piece.heading_path == ["Part one", "Detail"]


def test_plain_text_has_no_heading_path_even_with_hashes():
    assert all(
        p.heading_path == [] for p in chunk("# Not a heading\n\ntext", markdown=False)
    )


def test_a_chunk_spanning_sections_is_under_the_headings_of_its_first_line():
    pieces = chunk(MD, size=16, markdown=True)
    spanning = next(p for p in pieces if "### Linux" in p.content)
    assert spanning.content.startswith("## Install")
    assert spanning.heading_path == ["Guide", "Install"]


FENCED = """# Setup

## Install

Run this:

```bash
# install the dependencies first
pip install ragdesk
```

~~~
## not a heading either
~~~

Then configure it with care.

## Configure

Edit the file.
"""


def test_hash_lines_inside_fenced_code_are_not_headings():
    paths = _paths_by_content(chunk(FENCED, size=12, markdown=True))
    assert paths["```"] == ["Setup", "Install"]
    assert paths["Then configure it with care."] == ["Setup", "Install"]
    assert paths["Edit the file."] == ["Setup", "Configure"]
