"""A document's bytes as plain text, for splitting into passages (issue 12): plain text,
Markdown (its markup dropped, its paragraphs kept), HTML (the text of the page, paragraphs
and list items apart, scripts and styles dropped) and PDF (pypdf's text of each page, BSD).

The kind is the content type when it says one, else the file name's extension.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import PurePath

__all__ = ["UnreadableDocument", "document_kind", "document_text"]

KINDS = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


class UnreadableDocument(ValueError):
    """The document is of a kind we do not read, or its bytes are not what it says."""


def document_kind(file_name: str, content_type: str = "") -> str:
    """`text`, `markdown`, `html` or `pdf`."""
    essence = content_type.split(";", 1)[0].strip().lower()
    kind = KINDS.get(essence) or EXTENSIONS.get(PurePath(file_name).suffix.lower())
    if kind is None:
        raise UnreadableDocument(
            f"{file_name or 'the document'}: not text, Markdown, HTML or PDF "
            f"({content_type or 'no content type'})"
        )
    return kind


def document_text(data: bytes, file_name: str, content_type: str = "") -> str:
    """The document's text, paragraphs separated by blank lines."""
    kind = document_kind(file_name, content_type)
    if kind == "pdf":
        return _pdf_text(data, file_name)
    text = data.decode("utf-8-sig", errors="replace")
    if kind == "markdown":
        return markdown_text(text)
    if kind == "html":
        return html_text(text)
    return text


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def markdown_text(text: str) -> str:
    """Markdown as text: headings, list items and table rows each their own paragraph."""
    lines: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line) or _RULE.match(line):
            lines.append("")
            continue
        heading = bool(_HEADING.match(line))
        bullet = bool(_BULLET.match(line))
        line = _HEADING.sub("", line)
        line = _BULLET.sub("", line)
        line = _IMAGE.sub(r"\1", line)
        line = _LINK.sub(r"\1", line)
        line = _EMPHASIS.sub(r"\2", line)
        line = line.strip().strip("|").replace(" | ", ", ") if "|" in line else line
        line = line.lstrip(">").strip()
        if heading or bullet:
            lines.extend(["", line, ""])
        else:
            lines.append(line)
    return _paragraphs("\n".join(lines))


_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "li",
        "tr",
        "br",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "dd",
        "dt",
        "blockquote",
        "pre",
        "header",
        "footer",
        "main",
        "title",
    }
)
_HIDDEN = frozenset({"script", "style", "noscript", "template"})


class _TextOfPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(text: str) -> str:
    """An HTML page's visible text (its title included), block by block."""
    parser = _TextOfPage()
    parser.feed(text)
    parser.close()
    return _paragraphs("".join(parser.parts))


def _pdf_text(data: bytes, file_name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, OSError) as error:
        raise UnreadableDocument(
            f"{file_name or 'the PDF'}: not a readable PDF ({error})"
        ) from error
    return _paragraphs("\n\n".join(pages))


def _paragraphs(text: str) -> str:
    """Runs of blank lines made one blank line; spaces in lines made single."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
