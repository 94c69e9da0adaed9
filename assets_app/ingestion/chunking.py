"""Text → chunks measured in tokens, with overlap, by semantic-text-splitter.

Token counts use OpenAI's cl100k_base BPE (the tokenizer of the text-embedding-3 and
ada-002 models), compiled into bpe-openai, so counting works offline. The built-in
embedder bills the same counts."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

TOKENIZER_MODEL = "text-embedding-3-small"
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class ChunkPiece:
    content: str
    start_char_idx: int
    end_char_idx: int
    start_line: int
    end_line: int
    token_count: int
    heading_path: list[str]
    page_number: int | None


@functools.cache
def _encoding():
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in cl100k_base."""
    return len(_encoding().encode_ordinary(text))


def count_tokens_batch(texts: list[str]) -> list[int]:
    """Tokens of each text in cl100k_base. A plain loop: ``encode_ordinary_batch``
    starts an 8-thread pool per call, which costs more than it saves here (3-4× slower
    for batches of 2 to 64 chunks, measured by bench/ingest.py)."""
    encoding = _encoding()
    return [len(encoding.encode_ordinary(text)) for text in texts]


@functools.lru_cache(maxsize=32)
def _splitter(markdown: bool, chunk_size: int, chunk_overlap: int):
    from semantic_text_splitter import MarkdownSplitter, TextSplitter

    cls = MarkdownSplitter if markdown else TextSplitter
    return cls.from_tiktoken_model(TOKENIZER_MODEL, chunk_size, overlap=chunk_overlap)


def _headings(text: str) -> list[tuple[int, int, str]]:
    """``(offset, level, title)`` of the ATX headings of Markdown ``text``, leaving out
    lines inside fenced code blocks (a shell comment ``# install`` is no heading)."""
    fenced: list[tuple[int, int]] = []
    opener = None
    for m in _FENCE.finditer(text):
        if opener is None:
            opener = m
        elif (
            m.group(1)[0] == opener.group(1)[0]
            and len(m.group(1)) >= len(opener.group(1))
            and not m.group(2).strip()
        ):
            fenced.append((opener.start(), m.end()))
            opener = None
    if opener is not None:  # an unclosed fence runs to the end (CommonMark)
        fenced.append((opener.start(), len(text)))
    return [
        (m.start(), len(m.group(1)), m.group(2))
        for m in _HEADING.finditer(text)
        if not any(a <= m.start() < b for a, b in fenced)
    ]


class DocumentChunker:
    """Splits the sections of one document, keeping offsets, lines and headings
    relative to the whole parsed text (sections joined by a blank line)."""

    def __init__(self, *, chunk_size: int, chunk_overlap: int, markdown: bool):
        self.splitter = _splitter(markdown, chunk_size, chunk_overlap)
        self.markdown = markdown
        self.offset = 0  # characters of text before the current section
        self.line = 1  # line number at which the current section starts
        self.headings: list[tuple[int, str]] = []  # open headings (level, title)

    def split(self, text: str, page_number: int | None = None) -> Iterator[ChunkPiece]:
        line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        heads = _headings(text) if self.markdown else []
        pieces = self.splitter.chunk_indices(text)
        contents = [c for _, c in pieces]
        tokens = count_tokens_batch(contents)
        hi = 0
        for (start, content), n_tokens in zip(pieces, tokens, strict=True):
            end = start + len(content)
            if self.markdown:
                # Headings up to the chunk's first line form its path.
                first_line_end = text.find("\n", start)
                limit = end if first_line_end == -1 else first_line_end
                while hi < len(heads) and heads[hi][0] <= limit:
                    _, level, title = heads[hi]
                    self.headings = [h for h in self.headings if h[0] < level] + [(level, title)]
                    hi += 1
            yield ChunkPiece(
                content=content,
                start_char_idx=self.offset + start,
                end_char_idx=self.offset + end,
                start_line=self.line + bisect.bisect_right(line_starts, start) - 1,
                end_line=self.line + bisect.bisect_right(line_starts, max(start, end - 1)) - 1,
                token_count=n_tokens,
                heading_path=[t for _, t in self.headings],
                page_number=page_number,
            )
        if self.markdown:  # headings after the last chunk's start still apply later
            for _, level, title in heads[hi:]:
                self.headings = [h for h in self.headings if h[0] < level] + [(level, title)]
        self.offset += len(text) + 2
        self.line += text.count("\n") + 2
