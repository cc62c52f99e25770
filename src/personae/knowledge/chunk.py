"""Documents to text, and text to chunks.

Text and Markdown must be UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured); HTML is
reduced to its visible text; PDF needs the optional ``pypdf`` (``pip install 'personae[pdf]'``).
Anything else, undecodable bytes, NUL or other control characters are refused with what is
wrong and where, before anything is stored.

Chunks follow the document's own structure: Markdown headings start sections (each chunk
remembers the heading it sits under, for citing), blank lines separate paragraphs, and
paragraphs are packed into chunks of about CHUNK_CHARS, a longer one cut at sentence ends.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from personae.errors import KnowledgeInvalid

CHUNK_CHARS = 700
MAX_CHUNKS = 2000  # a document cut into more is refused: split it or trim it
MAX_PDF_PAGES = 500

TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BAD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class TextChunk:
    heading: str
    text: str


def media_type(name: str, declared: str | None = None) -> str:
    """The document's type from its file name (or a declared type we know)."""
    lower = name.lower()
    for suffix, kind in TYPES.items():
        if lower.endswith(suffix):
            return kind
    if declared:
        base = declared.split(";")[0].strip().lower()
        if base in TYPES.values():
            return base
    known = ", ".join(sorted(TYPES))
    raise KnowledgeInvalid(
        f"{name!r} is not a document type a knowledge base takes; use one of {known} "
        "(convert other formats to Markdown or PDF first)"
    )


def document_text(name: str, kind: str, data: bytes) -> str:
    """The document's text; KnowledgeInvalid if it cannot be read."""
    if not data:
        raise KnowledgeInvalid(f"{name!r} is empty; send the document's bytes")
    if kind == "application/pdf":
        text = _pdf_text(name, data)
    else:
        text = _decode(name, data)
        if kind == "text/html":
            text = _html_text(text)
    bad = _BAD_CONTROL.search(text)
    if bad:
        raise KnowledgeInvalid(
            f"{name!r} holds the control character {bad.group()!r} at character {bad.start()}; "
            "a document must be plain text: remove it (is this a binary file?)"
        )
    if not text.strip():
        raise KnowledgeInvalid(f"{name!r} has no text to index")
    return text


def _decode(name: str, data: bytes) -> str:
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise KnowledgeInvalid(
            f"{name!r} is not valid {encoding.upper().removesuffix('-SIG')}: byte "
            f"{err.start} ({data[err.start : err.start + 1]!r}) {err.reason}; save the "
            "document as UTF-8 and upload it again"
        ) from None


class _Visible(HTMLParser):
    """The text a browser would show: scripts, styles and the head left out, block elements
    ending lines, headings kept as Markdown headings (so they still start sections)."""

    HIDDEN = frozenset({"script", "style", "head", "template", "noscript"})
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "section", "article", "blockquote", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def _html_text(markup: str) -> str:
    parser = _Visible()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def _pdf_text(name: str, data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise KnowledgeInvalid(
            f"{name!r} is a PDF, and reading PDFs needs pypdf: `pip install 'personae[pdf]'` "
            "(or upload the document as Markdown or text)"
        ) from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise KnowledgeInvalid(f"{name!r} is an encrypted PDF; upload an unlocked copy")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise KnowledgeInvalid(
                f"{name!r} has {len(reader.pages)} pages; at most {MAX_PDF_PAGES}: split it"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except KnowledgeInvalid:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as err:
        raise KnowledgeInvalid(
            f"{name!r} is not a readable PDF ({type(err).__name__}: {err}); check the file"
        ) from None
    return "\n\n".join(pages).replace("\x00", "")


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[TextChunk]:
    """The text in chunks of about ``size`` characters, each with its section's heading."""
    chunks: list[TextChunk] = []
    heading = ""
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            chunks.append(TextChunk(heading, "\n\n".join(buffer)))
            buffer.clear()

    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        block = block.strip()
        if not block:
            continue
        first, _, rest = block.partition("\n")
        found = _HEADING.match(first)
        if found:
            flush()
            heading = found.group(2).strip()
            block = rest.strip()
            if not block:
                continue
        for piece in _pieces(block, size):
            if buffer and sum(len(b) + 2 for b in buffer) + len(piece) > size:
                flush()
            buffer.append(piece)
    flush()
    if len(chunks) > MAX_CHUNKS:
        raise KnowledgeInvalid(
            f"the document makes {len(chunks)} chunks; at most {MAX_CHUNKS}: split it"
        )
    return chunks


def _pieces(block: str, size: int) -> list[str]:
    """A paragraph as it is, or cut at sentence ends (then at spaces) into pieces <= size."""
    if len(block) <= size:
        return [block]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(block):
        while len(sentence) > size:  # a run-on "sentence": cut at the last space that fits
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces
