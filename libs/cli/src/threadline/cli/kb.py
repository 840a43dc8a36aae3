"""`threadline kb add NAME FILE...`, `threadline kb list [NAME]` and `threadline kb search
NAME... -- QUESTION` (or `--question`), over the AI responder's `KnowledgeBases` gRPC service.

`add` sends each file as a document of the knowledge base NAME (its file name the document's,
its content type from the extension: .txt, .md, .html, .pdf), replacing a document of that name,
and prints `added|replaced NAME/DOCUMENT (N passages)`; `list` prints the documents as a table;
`search` prints the passages found, best first, with their document and score, and says when
the search abstained (nothing similar enough to answer from).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import grpc

from threadline.cli.endpoints import KnowledgeEndpoint
from threadline.cli.refusals import refused
from threadline.contracts.knowledge.v1 import knowledge_pb2 as pb
from threadline.contracts.knowledge.v1 import knowledge_pb2_grpc as pb_grpc
from threadline.servicekit.config import ConfigError

CHUNK = 512 * 1024
ADD_TIMEOUT = 600.0  # embedding a long document on a CPU takes a while
TIMEOUT = 30.0
CONTENT_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}


def content_type_of(path: Path) -> str:
    """The content type a file's extension says (ConfigError for one we do not read)."""
    found = CONTENT_TYPES.get(path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"{path}: not a document kb add reads (extensions: {', '.join(CONTENT_TYPES)})"
        )
    return found


def _parts(knowledge_base: str, path: Path, data: bytes) -> Iterator[pb.AddDocumentRequest]:
    header = pb.AddDocumentHeader(
        knowledge_base=knowledge_base, document=path.name, content_type=content_type_of(path)
    )
    yield pb.AddDocumentRequest(header=header)
    for start in range(0, len(data), CHUNK):
        yield pb.AddDocumentRequest(chunk=data[start : start + CHUNK])


def add_documents(
    endpoint: KnowledgeEndpoint,
    knowledge_base: str,
    files: Sequence[Path],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Add (or replace) each file as a document; 0 when every one was taken."""
    out, err = out or sys.stdout, err or sys.stderr
    for path in files:
        content_type_of(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        stub = pb_grpc.KnowledgeBasesStub(channel)
        for path in files:
            try:
                response = stub.AddDocument(
                    _parts(knowledge_base, path, path.read_bytes()),
                    metadata=metadata,
                    timeout=ADD_TIMEOUT,
                )
            except grpc.RpcError as error:
                return refused("kb add", error, err)
            verb = "replaced" if response.replaced else "added"
            count = f"{response.passages} passage{'' if response.passages == 1 else 's'}"
            out.write(f"{verb} {response.knowledge_base}/{response.document} ({count})\n")
    return 0


def list_documents(
    endpoint: KnowledgeEndpoint,
    knowledge_base: str = "",
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.KnowledgeBasesStub(channel).ListDocuments(
                pb.ListDocumentsRequest(knowledge_base=knowledge_base),
                metadata=metadata,
                timeout=TIMEOUT,
            )
        except grpc.RpcError as error:
            return refused("kb list", error, err)
    rows = [("KNOWLEDGE BASE", "DOCUMENT", "PASSAGES")]
    rows += [(d.knowledge_base, d.document, str(d.passages)) for d in response.documents]
    if len(rows) == 1:
        out.write("no documents\n")
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        out.write(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}\n")
    return 0


def search(
    endpoint: KnowledgeEndpoint,
    knowledge_bases: Sequence[str],
    question: str,
    k: int = 3,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.KnowledgeBasesStub(channel).Search(
                pb.SearchRequest(knowledge_bases=knowledge_bases, question=question, k=k),
                metadata=metadata,
                timeout=TIMEOUT,
            )
        except grpc.RpcError as error:
            return refused("kb search", error, err)
    if response.abstained:
        out.write("nothing relevant enough to answer from (closest passages below)\n")
    if not response.passages:
        out.write("no passages\n")
    for rank, found in enumerate(response.passages, start=1):
        text = " ".join(found.text.split())
        out.write(
            f"{rank}. {found.knowledge_base}/{found.document} #{found.position}  "
            f"score {found.score:.4f}  similarity {found.similarity:.3f}\n   {text}\n"
        )
    return 0


def run(
    command: str,
    *,
    names: Sequence[str],
    files: Sequence[str] = (),
    question: str = "",
    k: int = 3,
    env: Mapping[str, str],
) -> int:
    """`threadline kb <command>`; a setting found nowhere is a ConfigError."""
    endpoint = KnowledgeEndpoint.resolve(env)
    if command == "add":
        return add_documents(endpoint, names[0], [Path(f) for f in files])
    if command == "list":
        return list_documents(endpoint, names[0] if names else "")
    if not names:
        raise ConfigError("threadline kb search needs at least one knowledge base NAME")
    if not question.strip():
        raise ConfigError("threadline kb search needs a question: NAME... -- QUESTION")
    return search(endpoint, names, question, k)
