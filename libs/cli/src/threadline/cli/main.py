"""The `threadline` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from threadline.cli.failures import FAILED, INTERRUPTED, explain, one_line
from threadline.servicekit.config import ConfigError
from threadline.servicekit.logs import configure_logging

if TYPE_CHECKING:
    from threadline.cli.demo import Media


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="threadline", description=__doc__)
    root.add_argument("--version", action="version", version=f"threadline {version()}")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole platform on this machine")
    demo = commands.add_parser("demo", help="play a customer against the running platform")
    sent = demo.add_mutually_exclusive_group()
    sent.add_argument("--text", default=None, help="what the customer writes")
    sent.add_argument("--photo", action="store_true", help="send the sandbox's sample photo")
    sent.add_argument("--voice", action="store_true", help="send the sandbox's voice note")
    sent.add_argument("--document", action="store_true", help="send the sandbox's PDF")
    sent.add_argument("--file", type=Path, metavar="PATH", help="send a file (MIME type guessed)")
    sent.add_argument(
        "--salon",
        action="store_true",
        help="the example salon: ask the hours in Portuguese, then book through its flow",
    )
    demo.add_argument("--caption", default=None, help="the photo's or document's caption")
    demo.add_argument("--timeout", type=float, default=30.0)
    demo.add_argument(
        "--customer",
        metavar="WA_ID",
        type=_wa_id,
        help="write as this customer (digits; e.g. the one a previous demo printed) again",
    )
    replay = commands.add_parser(
        "replay",
        help="rebuild the read models from the session's event log, then switch to them",
        description="Rebuild into fresh tables while the current ones serve, switch atomically,"
        " and let the live projection continue. Ctrl-C stops; running it again resumes.",
    )
    replay.add_argument("--conversation", metavar="ID", help="rebuild only this conversation")
    replay.add_argument("--restart", action="store_true", help="drop an unfinished rebuild")
    replay.add_argument(
        "--keep-old", action="store_true", help="keep the replaced tables (analytics_old_<time>)"
    )
    replay.add_argument("--batch", type=int, default=None, help="events projected at a time")
    replay.add_argument(
        "--flush-rows",
        type=int,
        default=None,
        help="rows held in memory before they are written with the position reached"
        " (default 750,000: about 1.4 GB at the peak; 300,000: 0.9 GB, and slower)",
    )
    events = commands.add_parser("events", help="read the session's event streams")
    reads = events.add_subparsers(dest="events_command", required=True)
    tail = reads.add_parser("tail", help="follow SESSION_EVENTS live, one line per event")
    tail.add_argument("--last", type=int, default=0, help="start with the last N events")
    tail.add_argument("--limit", type=int, default=None, help="stop after N events")
    show = reads.add_parser("show", help="one conversation's events, from the event log")
    show.add_argument("conversation", metavar="CONVERSATION_ID")
    send = commands.add_parser(
        "send", help="send a text, a template, buttons, or files then a text, into a conversation"
    )
    send.add_argument("conversation", metavar="CONVERSATION_ID")
    send.add_argument(
        "--file", type=Path, action="append", default=[], metavar="PATH", dest="files"
    )
    send.add_argument("--caption", default="", help="the first file's caption")
    send.add_argument("--text", default="", help="the text (after the files, if any)")
    send.add_argument("--template", default="", metavar="NAME", help="a registered template")
    send.add_argument("--language", default="", help="the template's language (e.g. en_US)")
    send.add_argument(
        "--param", action="append", default=[], dest="params", help="the template's {{n}}, in order"
    )
    send.add_argument(
        "--button",
        action="append",
        default=[],
        dest="buttons",
        metavar="ID:TITLE",
        help="a reply button under --text (up to 3)",
    )
    commands.add_parser("status", help="every part's health, consumer lag and dead letters")
    dlq = commands.add_parser("dlq", help="dead letters: list, show, re-drive after a fix")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser("list", help="the dead letters, oldest first")
    dlq_list.add_argument("--service", default="", help="only this service's")
    dlq_list.add_argument("--reason", default="", metavar="SLUG", help="only with this reason")
    dlq_list.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    dlq_list.add_argument("--after", type=int, default=0, metavar="SEQ", help="from after SEQ")
    dlq_show = dlq_commands.add_parser("show", help="one dead letter: headers and payload head")
    dlq_show.add_argument("sequence", type=int, metavar="SEQ")
    dlq_redrive = dlq_commands.add_parser(
        "redrive", help="re-publish dead letters to their original subjects (once each)"
    )
    dlq_redrive.add_argument(
        "--seq", type=int, action="append", default=[], dest="sequences", metavar="SEQ"
    )
    dlq_redrive.add_argument("--reason", default="", metavar="SLUG", help="all with this reason")
    dlq_redrive.add_argument("--service", default="", help="only this service's")
    dlq_redrive.add_argument("--all", action="store_true", dest="every", help="every one")
    conversations = commands.add_parser("conversations", help="the conversations: list, show")
    conversation_commands = conversations.add_subparsers(
        dest="conversations_command", required=True
    )
    list_conversations = conversation_commands.add_parser(
        "list", help="a page of conversations, latest first"
    )
    _filters(list_conversations)
    list_conversations.add_argument("--page", type=int, default=1)
    list_conversations.add_argument("--size", type=int, default=20, help="1 to 100")
    show_conversation = conversation_commands.add_parser(
        "show", help="one conversation and its messages"
    )
    show_conversation.add_argument("conversation", metavar="CONVERSATION_ID")
    templates = commands.add_parser("templates", help="a number's templates: list, register")
    template_commands = templates.add_subparsers(dest="templates_command", required=True)
    list_templates = template_commands.add_parser("list", help="a number's templates")
    list_templates.add_argument("--number", required=True, help="the phone_number_id")
    register = template_commands.add_parser("register", help="register a template (admin)")
    register.add_argument("name", metavar="NAME")
    register.add_argument("--number", required=True, help="the phone_number_id")
    register.add_argument("--language", required=True, help="e.g. en_US")
    register.add_argument("--category", required=True, help="MARKETING, UTILITY, AUTHENTICATION")
    register.add_argument("--body", required=True, help="the text, with {{1}}..{{n}}")
    autopilot = commands.add_parser("autopilot", help="a number's AI answers: on or off")
    autopilot.add_argument("state", choices=("on", "off"))
    autopilot.add_argument("number", metavar="NUMBER", help="the phone_number_id")
    handoff = commands.add_parser("handoff", help="hand a conversation to a human")
    handoff.add_argument("conversation", metavar="CONVERSATION_ID")
    handoff.add_argument("--reason", default="", help="why (kept with the hand-off)")
    resume = commands.add_parser("resume", help="give a conversation back to the AI")
    resume.add_argument("conversation", metavar="CONVERSATION_ID")
    export = commands.add_parser("export", help="export conversations as CSV or JSON Lines")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", dest="export_format")
    export.add_argument("--messages", action="store_true", help="with their messages")
    export.add_argument("--output", type=Path, metavar="FILE", help="instead of stdout")
    _filters(export)
    assistants = commands.add_parser("assistants", help="configure the platform's assistants")
    configure = assistants.add_subparsers(dest="assistants_command", required=True)
    apply = configure.add_parser(
        "apply", help="create or update the assistant a YAML file describes (like kubectl apply)"
    )
    apply.add_argument("file", metavar="FILE.yaml")
    configure.add_parser("list", help="the assistants, as a table")
    flows = commands.add_parser("flows", help="configure the business's flows")
    flow_commands = flows.add_subparsers(dest="flows_command", required=True)
    apply_flow = flow_commands.add_parser(
        "apply", help="create or update the flow a YAML file defines (like kubectl apply)"
    )
    apply_flow.add_argument("file", metavar="FILE.yaml")
    flow_commands.add_parser("list", help="the flows, as a table")
    tokens = commands.add_parser("tokens", help="managed API tokens: create, list, revoke")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    create_token = token_commands.add_parser(
        "create", help="issue a token (its secret is printed once)"
    )
    create_token.add_argument("name", metavar="NAME", help="who or what uses it")
    create_token.add_argument("--roles", required=True, help="read,write,admin (a comma list)")
    create_token.add_argument(
        "--numbers", required=True, help="phone_number_ids (a comma list), or '*' for all"
    )
    list_tokens = token_commands.add_parser("list", help="the tokens, as a table (no secrets)")
    list_tokens.add_argument("--all", action="store_true", help="revoked ones too")
    revoke_token = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke_token.add_argument("token_id", metavar="ID")
    webhooks = commands.add_parser("webhooks", help="outgoing webhooks: set, list, remove")
    webhook_commands = webhooks.add_subparsers(dest="webhooks_command", required=True)
    set_webhook = webhook_commands.add_parser(
        "set", help="create or update a subscription: which events of a number go to a URL"
    )
    set_webhook.add_argument("subscription_id", metavar="ID")
    set_webhook.add_argument("--number", required=True, help="a phone_number_id, or '*' for all")
    set_webhook.add_argument("--url", required=True, help="where notifications are POSTed")
    set_webhook.add_argument(
        "--secret-ref",
        required=True,
        help="the NAME of the gateway's environment variable holding the signing secret",
    )
    set_webhook.add_argument(
        "--events",
        required=True,
        help="a comma list of conversation.escalated, conversation.ai_failed,"
        " customer.waiting, message.received",
    )
    set_webhook.add_argument("--disabled", action="store_true", help="kept, but sending nothing")
    webhook_commands.add_parser("list", help="the subscriptions, as a table")
    remove_webhook = webhook_commands.add_parser("remove", help="stop and remove a subscription")
    remove_webhook.add_argument("subscription_id", metavar="ID")
    kb = commands.add_parser("kb", help="knowledge bases: add documents, list, search")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    kb_add = kb_commands.add_parser(
        "add", help="add files (.txt .md .html .pdf) to a knowledge base, replacing same names"
    )
    kb_add.add_argument("name", metavar="NAME")
    kb_add.add_argument("files", metavar="FILE", nargs="+")
    kb_list = kb_commands.add_parser("list", help="the documents, of one knowledge base or all")
    kb_list.add_argument("name", metavar="NAME", nargs="?")
    kb_search = kb_commands.add_parser(
        "search", help="the passages that best answer a question: NAME... -- QUESTION"
    )
    kb_search.add_argument("names", metavar="NAME", nargs="+")
    kb_search.add_argument("--question", "-q", default="", help="instead of -- QUESTION")
    kb_search.add_argument("-k", type=int, default=3, help="passages wanted (1 to 20)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    question = ""
    if given[:2] == ["kb", "search"] and "--" in given:
        # `kb search NAME... -- QUESTION`: the words after `--` are the question.
        split = given.index("--")
        given, question = given[:split], " ".join(given[split + 1 :])
    args = parser().parse_args(given)
    if question:
        args.question = question
    try:
        return _run(args)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `threadline export | head`: the reader has gone; say nothing
        _silence_stdout()
        return FAILED
    except Exception as error:  # every failure: one line, never a traceback
        return report(_label(args), error)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that its flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def version() -> str:
    """The installed `threadline-cli` package's version."""
    try:
        return metadata.version("threadline-cli")
    except metadata.PackageNotFoundError:
        return "unknown"


def report(command: str, error: BaseException) -> int:
    """`threadline <command>: <what went wrong>` on stderr; the exit status."""
    cause = error
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    failure = explain(cause)
    if failure is None:
        line = one_line(f"unexpected {type(cause).__name__}: {cause}")
        line += " (THREADLINE_DEBUG=1 shows the traceback)"
        status = FAILED
    else:
        line, status = failure.line, failure.status
    if os.environ.get("THREADLINE_DEBUG"):
        traceback.print_exception(error)
    sys.stderr.write(f"threadline {command}: {line}\n")
    return status


def _label(args: argparse.Namespace) -> str:
    sub = getattr(args, f"{args.command}_command", None)
    return f"{args.command} {sub}" if isinstance(sub, str) else str(args.command)


def _run(args: argparse.Namespace) -> int:
    if args.command == "up":
        configure_logging("threadline")
        from threadline.cli.up import run_platform

        return asyncio.run(run_platform())
    logging.basicConfig(level=logging.WARNING)
    if args.command == "demo" and args.salon:
        from threadline.cli.salon_demo import run_salon_demo

        return asyncio.run(run_salon_demo(timeout=args.timeout))
    if args.command == "demo":
        from threadline.cli.demo import DEFAULT_TEXT, run_demo

        media = _demo_media(args)
        text = args.text if args.text is not None else DEFAULT_TEXT
        return asyncio.run(
            run_demo(text, media=media, timeout=args.timeout, customer=args.customer)
        )
    return _operate(args)


def _filters(command: argparse.ArgumentParser) -> None:
    command.add_argument("--status", default="", help="active, escalated, completed, abandoned")
    command.add_argument("--number", default="", help="a business phone_number_id")
    command.add_argument("--customer", default="", help="a customer's phone number")
    command.add_argument("--assistant", default="", help="an assistant's name")


def _wa_id(value: str) -> str:
    digits = value.removeprefix("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise argparse.ArgumentTypeError(f"a customer's phone number in digits, got {value!r}")
    return digits


def _demo_media(args: argparse.Namespace) -> Media | None:
    """The file `threadline demo` sends instead of a text, if any."""
    from threadline.cli.demo import Media

    kind = "image" if args.photo else "audio" if args.voice else "document" if args.document else ""
    if args.file is not None:
        return Media.of_file(args.file, args.caption)
    if kind:
        return Media(kind, args.caption)
    if args.caption is not None:
        parser().error("--caption goes with --photo, --document or --file")
    return None


def _operate(args: argparse.Namespace) -> int:
    if args.command == "kb":
        from threadline.cli import kb

        return kb.run(
            args.kb_command,
            names=getattr(args, "names", None) or [n for n in [getattr(args, "name", None)] if n],
            files=getattr(args, "files", ()),
            question=getattr(args, "question", ""),
            k=getattr(args, "k", 3),
            env=os.environ,
        )
    if args.command == "assistants":
        from threadline.cli.assistants import run

        return run(args.assistants_command, getattr(args, "file", None), os.environ)
    if args.command == "flows":
        from threadline.cli import flows

        return flows.run(args.flows_command, getattr(args, "file", None), os.environ)
    if args.command == "tokens":
        from threadline.cli import tokens

        return tokens.run(
            args.tokens_command,
            os.environ,
            name=getattr(args, "name", ""),
            roles=getattr(args, "roles", ""),
            numbers=getattr(args, "numbers", ""),
            token_id=getattr(args, "token_id", ""),
            include_revoked=getattr(args, "all", False),
        )
    if args.command == "webhooks":
        from threadline.cli import webhooks

        return webhooks.run(
            args.webhooks_command,
            os.environ,
            subscription_id=getattr(args, "subscription_id", ""),
            number=getattr(args, "number", ""),
            url=getattr(args, "url", ""),
            secret_ref=getattr(args, "secret_ref", ""),
            events=getattr(args, "events", ""),
            disabled=getattr(args, "disabled", False),
        )
    if args.command == "send":
        return _send(args)
    if args.command == "status":
        from threadline.cli import status

        return status.run(os.environ)
    if args.command == "dlq":
        return _dlq(args)
    if args.command in ("conversations", "export"):
        return _read_models(args)
    if args.command in ("templates", "autopilot", "handoff", "resume"):
        return _session_command(args)
    if args.command == "replay":
        from threadline.cli.endpoints import Endpoints
        from threadline.cli.replay import run_conversation_replay, run_replay

        endpoints = Endpoints.resolve(os.environ)
        if args.conversation:
            return run_conversation_replay(endpoints, args.conversation)
        options = {"batch_size": args.batch} if args.batch else {}
        if args.flush_rows:
            options["flush_rows"] = args.flush_rows
        return run_replay(endpoints, restart=args.restart, keep_old=args.keep_old, **options)
    from threadline.cli.endpoints import NatsEndpoint, SessionEndpoint
    from threadline.cli.events import show_events, tail_events

    if args.events_command == "show":
        return show_events(SessionEndpoint.resolve(os.environ), args.conversation)
    try:
        return asyncio.run(
            tail_events(NatsEndpoint.resolve(os.environ), last=args.last, limit=args.limit)
        )
    except KeyboardInterrupt:
        return 0


def _send(args: argparse.Namespace) -> int:
    from threadline.cli.endpoints import SessionEndpoint

    if args.files:
        from threadline.cli import send

        if args.template or args.buttons:
            raise ConfigError("--file goes with --text and --caption, not --template or --button")
        return send.run(
            args.conversation, args.files, caption=args.caption, text=args.text, env=os.environ
        )
    from threadline.cli import commands

    message = commands.content(
        text=args.text,
        template=args.template,
        language=args.language,
        parameters=args.params,
        buttons=args.buttons,
    )
    return commands.send_message(SessionEndpoint.resolve(os.environ), args.conversation, message)


def _dlq(args: argparse.Namespace) -> int:
    from threadline.cli import dlq
    from threadline.cli.endpoints import NatsEndpoint

    endpoint = NatsEndpoint.resolve(os.environ)
    if args.dlq_command == "list":
        return asyncio.run(
            dlq.list_dead_letters(
                endpoint,
                service=args.service,
                reason=args.reason,
                limit=args.limit,
                after=args.after,
            )
        )
    if args.dlq_command == "show":
        return asyncio.run(dlq.show_dead_letter(endpoint, args.sequence))
    selection = dlq.Selection(args.sequences, args.reason, args.service, args.every)
    return asyncio.run(dlq.redrive(endpoint, selection))


def _read_models(args: argparse.Namespace) -> int:
    from threadline.cli import conversations
    from threadline.cli.endpoints import AnalyticsEndpoint

    endpoint = AnalyticsEndpoint.resolve(os.environ)
    if args.command == "conversations" and args.conversations_command == "show":
        return conversations.show_conversation(endpoint, args.conversation)
    filters = conversations.Filters(args.status, args.number, args.customer, args.assistant)
    if args.command == "export":
        return conversations.export(
            endpoint,
            args.export_format,
            filters,
            include_messages=args.messages,
            output=args.output,
        )
    return conversations.list_conversations(endpoint, filters, page=args.page, size=args.size)


def _session_command(args: argparse.Namespace) -> int:
    from threadline.cli import commands
    from threadline.cli.endpoints import SessionEndpoint

    endpoint = SessionEndpoint.resolve(os.environ)
    if args.command == "autopilot":
        return commands.set_autopilot(endpoint, args.number, args.state == "on")
    if args.command == "handoff":
        return commands.hand_off(endpoint, args.conversation, args.reason)
    if args.command == "resume":
        return commands.resume(endpoint, args.conversation)
    if args.templates_command == "register":
        return commands.register_template(
            endpoint,
            args.number,
            args.name,
            language=args.language,
            category=args.category,
            body=args.body,
        )
    return commands.list_templates(endpoint, args.number)


if __name__ == "__main__":
    raise SystemExit(main())
