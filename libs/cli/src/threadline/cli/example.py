"""The example business `threadline up` loads once the platform is up: the hair salon of
examples/salon (issue 12) — its assistant, assigned to the sandbox's business number, its
knowledge base and its booking flow, with the sandbox's example booking system as the
assistant's `book_appointment` tool.

It goes through the operator's own commands (`threadline assistants apply`, `kb add`, `flows
apply`, over the same gRPC APIs), so loading it again changes nothing: an unchanged assistant
or flow keeps its version, and an unchanged document keeps its passages (nothing is embedded
again). `THREADLINE_EXAMPLE` names another example directory, or `none` for no example.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc

from threadline.cli.assistants import AssistantFileError, configure_assistant, read_assistant_file
from threadline.cli.endpoints import KnowledgeEndpoint, SessionEndpoint
from threadline.cli.flows import apply_flow
from threadline.cli.kb import CONTENT_TYPES, add_documents
from threadline.contracts.knowledge.v1 import knowledge_pb2 as kb_pb
from threadline.contracts.knowledge.v1 import knowledge_pb2_grpc as kb_grpc
from threadline.servicekit.config import ConfigError

EXAMPLE: Final = Path("examples/salon")
BOOKINGS_PATH: Final = "/examples/salon/bookings"  # threadline.sandbox.salon_bookings.PATH
BOOKINGS_URL: Final = "THREADLINE_SALON_BOOKINGS_URL"
TIMEOUT: Final = 30.0


@dataclass(frozen=True, slots=True)
class Loaded:
    """What an example loaded: the assistant and its model, its knowledge bases and how many
    passages they hold, the flows; `problems` says what could not be loaded, one line each."""

    assistant: str = ""
    model: str = ""
    knowledge_bases: tuple[str, ...] = ()
    passages: int = 0
    flows: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the platform's summary."""
        if not self.assistant and not self.flows:
            return "; ".join(self.problems) or "nothing"
        parts = [f"assistant {self.assistant} ({self.model})"]
        if self.knowledge_bases:
            plural = "" if self.passages == 1 else "s"
            parts[0] += (
                f" answering from knowledge base {', '.join(self.knowledge_bases)} "
                f"({self.passages} passage{plural})"
            )
        parts += [f"flow {flow}" for flow in self.flows]
        return "; ".join([*parts, *self.problems])


def example_directory(environ: Mapping[str, str]) -> Path | None:
    """The example to load: `THREADLINE_EXAMPLE` (`none`: no example), else examples/salon
    when the working directory has it."""
    chosen = environ.get("THREADLINE_EXAMPLE", "")
    if chosen.strip().lower() == "none":
        return None
    directory = Path(chosen) if chosen else EXAMPLE
    return directory if directory.is_dir() else None


def load_example(
    directory: Path,
    *,
    session: SessionEndpoint,
    knowledge: KnowledgeEndpoint | None,
    business_number: str,
    sandbox_url: str,
) -> Loaded:
    """Apply the example in `directory` (blocking: gRPC calls; run it in a thread): its
    `assistant.yaml` assigned to `business_number`, its `knowledge/` documents into the
    assistant's first knowledge base (when the AI responder serves knowledge bases), its
    `*flow.yaml` files."""
    problems: list[str] = []
    env = {BOOKINGS_URL: f"{sandbox_url}{BOOKINGS_PATH}"}
    assistant = model = ""
    bases: tuple[str, ...] = ()
    path = directory / "assistant.yaml"
    if path.is_file():
        try:
            request = read_assistant_file(path, env)
        except AssistantFileError as error:
            problems.append(str(error))
        else:
            request.assistant.ClearField("business_numbers")
            request.assistant.business_numbers.append(business_number)
            if _run(problems, configure_assistant, session, request) is not None:
                assistant, model = request.assistant.name, request.assistant.model
                bases = tuple(request.assistant.knowledge_bases)
    passages = 0
    documents = sorted(
        p for p in (directory / "knowledge").glob("*") if p.suffix.lower() in CONTENT_TYPES
    )
    if bases and documents:
        if knowledge is None:
            problems.append("knowledge not loaded: the AI responder serves no knowledge bases")
            bases = ()
        elif _run(problems, add_documents, knowledge, bases[0], documents) is not None:
            passages = _passages(knowledge, bases[0], problems)
        else:
            bases = ()
    flows = []
    for flow in sorted(directory.glob("*flow.yaml")):
        applied = _run(problems, apply_flow, session, flow)
        if applied is not None:
            flows.append(applied.split()[1])  # "created|updated|unchanged ID vN"
    return Loaded(assistant, model, bases, passages, tuple(flows), tuple(problems))


def _run(problems: list[str], command: Callable[..., int], *args: object) -> str | None:
    """What an operator command printed when it succeeded (None when not: its error lines
    join `problems`)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        status = command(*args, out=out, err=err)
    except ConfigError as error:
        problems.append(str(error))
        return None
    problems.extend(line for line in err.getvalue().splitlines() if line)
    return out.getvalue() if status == 0 else None


def _passages(endpoint: KnowledgeEndpoint, knowledge_base: str, problems: list[str]) -> int:
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = kb_grpc.KnowledgeBasesStub(channel).ListDocuments(
                kb_pb.ListDocumentsRequest(knowledge_base=knowledge_base),
                metadata=metadata,
                timeout=TIMEOUT,
            )
        except grpc.RpcError as error:
            problems.append(f"knowledge base {knowledge_base} could not be listed: {error}")
            return 0
    return sum(document.passages for document in response.documents)
