"""Documents read as text: plain, Markdown, HTML and PDF (a real PDF written by pypdf)."""

from __future__ import annotations

import io

import pytest

from threadline.ai_responder.adapters.outbound.documents import (
    UnreadableDocument,
    document_kind,
    document_text,
)


def test_the_kind_comes_from_the_content_type_then_the_extension() -> None:
    assert document_kind("faq.bin", "text/markdown; charset=utf-8") == "markdown"
    assert document_kind("FAQ.HTM") == "html"
    assert document_kind("prices.pdf", "application/octet-stream") == "pdf"
    with pytest.raises(UnreadableDocument):
        document_kind("photo.jpg", "image/jpeg")


def test_plain_text_is_kept() -> None:
    assert document_text("Olá\n\nAté já".encode(), "a.txt") == "Olá\n\nAté já"


def test_markdown_loses_its_markup_and_keeps_its_paragraphs() -> None:
    markdown = (
        "# Opening hours\n"
        "We are **open** Tuesday to *Saturday*.\n"
        "- Tuesday: 9-19\n"
        "- Saturday: 9-17\n\n"
        "See [our page](https://example.com) and ![the map](map.png).\n"
        "```\ncode\n```\n"
    )
    text = document_text(markdown.encode(), "faq.md")
    assert text.split("\n\n") == [
        "Opening hours",
        "We are open Tuesday to Saturday.",
        "Tuesday: 9-19",
        "Saturday: 9-17",
        "See our page and the map.",
        "code",
    ]


def test_html_gives_its_visible_text_block_by_block() -> None:
    html = (
        "<html><head><title>Salon</title><style>p {color: red}</style></head><body>"
        "<h1>Prices</h1><p>A cut costs <b>25&nbsp;euros</b>.</p>"
        "<ul><li>Beard: 15</li><li>Kids: 18</li></ul>"
        "<script>alert('x')</script></body></html>"
    )
    text = document_text(html.encode(), "prices.html")
    assert text.split("\n\n") == [
        "Salon",
        "Prices",
        "A cut costs 25 euros.",
        "Beard: 15",
        "Kids: 18",
    ]


def test_a_pdf_gives_the_text_of_its_pages() -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for line in ("Opening hours: 9 to 19.", "Prices: a cut costs 25 euros."):
        page = writer.add_blank_page(width=300, height=200)
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        content = DecodedStreamObject()
        content.set_data(f"BT /F1 12 Tf 20 100 Td ({line}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
    buffer = io.BytesIO()
    writer.write(buffer)
    text = document_text(buffer.getvalue(), "faq.pdf")
    assert text.split("\n\n") == ["Opening hours: 9 to 19.", "Prices: a cut costs 25 euros."]


def test_a_broken_pdf_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        document_text(b"%PDF-1.4 not really", "broken.pdf")
