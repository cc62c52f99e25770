"""Documents to text and chunks: the types a knowledge base takes, and refusals of the ones it
cannot read that say what is wrong and where."""

from __future__ import annotations

import pytest

from personae.errors import KnowledgeInvalid
from personae.knowledge.chunk import CHUNK_CHARS, chunk_text, document_text, media_type


def _pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_markdown_headings_start_sections_and_long_paragraphs_are_cut_at_sentences() -> None:
    sentence = "The lighthouse keeper logs every passing ship in the ledger. "
    text = (
        "Intro line.\n\n# Opening hours\n\nOpen 9 to 5 on weekdays.\n\n"
        f"## Ships\n\n{sentence * 30}\n\n# Prices\n\nA ticket costs 4 euros."
    )
    chunks = chunk_text(text)
    assert chunks[0].heading == "" and chunks[0].text == "Intro line."
    assert (chunks[1].heading, chunks[1].text) == ("Opening hours", "Open 9 to 5 on weekdays.")
    ships = [c for c in chunks if c.heading == "Ships"]
    assert len(ships) >= 2, "a long paragraph is cut"
    assert all(len(c.text) <= CHUNK_CHARS for c in ships)
    assert all(c.text.endswith("ledger.") for c in ships), "cuts fall at sentence ends"
    assert chunks[-1].heading == "Prices" and "4 euros" in chunks[-1].text


def test_html_keeps_visible_text_and_headings_without_scripts() -> None:
    page = (
        b"<html><head><title>t</title><style>p{}</style></head><body><h2>Menu</h2>"
        b"<p>Soup &amp; bread</p><script>alert('x')</script><p>Tea</p></body></html>"
    )
    text = document_text("menu.html", media_type("menu.html"), page)
    chunks = chunk_text(text)
    assert [(c.heading, c.text) for c in chunks] == [("Menu", "Soup & bread\n\nTea")]


def test_utf8_bom_and_utf16_with_a_bom_are_read() -> None:
    assert document_text("a.txt", "text/plain", "\ufeffOlá".encode()) == "Olá"
    assert document_text("a.txt", "text/plain", "Olá mundo".encode("utf-16")) == "Olá mundo"


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("a.md", b"caf\xe9 au lait", "byte 3"),
        ("a.md", b"ok\x00binary", "control character"),
        ("a.md", b"", "empty"),
        ("a.md", b"  \n\n ", "no text"),
        ("a.pdf", b"%PDF-1.4 garbage", "not a readable PDF"),
        ("a.exe", b"MZ", "not a document type"),
        ("a.docx", b"PK\x03\x04", "not a document type"),
    ],
)
def test_unreadable_documents_are_refused_saying_what_and_where(
    name: str, data: bytes, says: str
) -> None:
    with pytest.raises(KnowledgeInvalid, match=says):
        document_text(name, media_type(name), data)


def test_a_pdf_gives_its_text() -> None:
    text = document_text("guide.pdf", media_type("guide.pdf"), _pdf("Checkout is at 11 am"))
    assert "Checkout is at 11 am" in text


def test_a_declared_type_names_a_file_without_an_extension() -> None:
    assert media_type("README", "text/markdown; charset=utf-8") == "text/markdown"
    with pytest.raises(KnowledgeInvalid, match="not a document type"):
        media_type("README", "application/zip")
