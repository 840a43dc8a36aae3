"""Rules for interactive messages: buttons, lists, CTA URLs, products, flows and the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from threadline.sandbox.limits import as_list, as_object, check_object, check_text

BODY_LIMIT: Final = 1024
HEADER_LIMIT: Final = 60
FOOTER_LIMIT: Final = 60
BUTTONS_LIMIT: Final = 3
BUTTON_TITLE_LIMIT: Final = 20
LIST_BUTTON_LIMIT: Final = 20
LIST_ROWS_LIMIT: Final = 10
SECTIONS_LIMIT: Final = 10
ROW_TITLE_LIMIT: Final = 24
ROW_DESCRIPTION_LIMIT: Final = 72
SECTION_TITLE_LIMIT: Final = 24
CTA_LABEL_LIMIT: Final = 20
PRODUCT_ITEMS_LIMIT: Final = 30

Check = Callable[[Mapping[str, object]], list[str]]


def check_interactive(value: object) -> list[str]:
    """Every problem with an `interactive` object; limits count code points."""
    interactive = as_object(value)
    if interactive is None:
        return ["interactive must be an object"]
    kind = interactive.get("type")
    check = _ACTIONS.get(kind) if isinstance(kind, str) else None
    if check is None:
        return [
            f"interactive.type {kind!r} is not supported; use one of {', '.join(sorted(_ACTIONS))}"
        ]
    problems = _check_frame(interactive, body_required=kind not in _BODY_OPTIONAL)
    if kind == "product_list" and "header" not in interactive:
        problems.append("interactive.header is required when interactive.type is 'product_list'")
    action = as_object(interactive.get("action"))
    if action is None:
        problems.append("interactive.action is required")
        return problems
    return problems + check(action)


def _check_frame(interactive: Mapping[str, object], *, body_required: bool) -> list[str]:
    problems: list[str] = []
    for part, limit, required in (
        ("body", BODY_LIMIT, body_required),
        ("footer", FOOTER_LIMIT, False),
        ("header", HEADER_LIMIT, False),
    ):
        if part not in interactive and not required:
            continue
        problems += check_object(interactive, part, f"interactive.{part}")
        section = as_object(interactive.get(part))
        if section is None:
            continue
        text_required = part != "header" or section.get("type") == "text"
        problems += check_text(
            section, "text", f"interactive.{part}.text", limit=limit, required=text_required
        )
    header = as_object(interactive.get("header"))
    if header is not None:
        problems += check_text(
            header, "sub_text", "interactive.header.sub_text", limit=HEADER_LIMIT, required=False
        )
    return problems


def _check_buttons(action: Mapping[str, object]) -> list[str]:
    buttons = as_list(action.get("buttons"))
    if not buttons:
        return ["interactive.action.buttons must hold 1 to 3 reply buttons"]
    if len(buttons) > BUTTONS_LIMIT:
        return [
            f"interactive.action.buttons has {len(buttons)} buttons; the maximum is {BUTTONS_LIMIT}"
        ]
    problems: list[str] = []
    for index, item in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]"
        reply = as_object((as_object(item) or {}).get("reply"))
        if reply is None:
            problems.append(f"{path}.reply is required")
            continue
        problems += check_text(reply, "id", f"{path}.reply.id", limit=256, required=True)
        problems += check_text(
            reply, "title", f"{path}.reply.title", limit=BUTTON_TITLE_LIMIT, required=True
        )
    return problems


def _check_list(action: Mapping[str, object]) -> list[str]:
    problems = check_text(
        action, "button", "interactive.action.button", limit=LIST_BUTTON_LIMIT, required=True
    )
    sections = _sections(action, problems)
    total_rows = 0
    for index, section in enumerate(sections):
        path = f"interactive.action.sections[{index}]"
        rows = as_list(section.get("rows")) or []
        if not rows:
            problems.append(f"{path}.rows must hold at least one row")
        total_rows += len(rows)
        for row_index, item in enumerate(rows):
            row = as_object(item) or {}
            row_path = f"{path}.rows[{row_index}]"
            problems += check_text(row, "id", f"{row_path}.id", limit=200, required=True)
            problems += check_text(
                row, "title", f"{row_path}.title", limit=ROW_TITLE_LIMIT, required=True
            )
            problems += check_text(
                row,
                "description",
                f"{row_path}.description",
                limit=ROW_DESCRIPTION_LIMIT,
                required=False,
            )
    if total_rows > LIST_ROWS_LIMIT:
        problems.append(
            f"interactive.action.sections has {total_rows} rows in all; "
            f"the maximum is {LIST_ROWS_LIMIT}"
        )
    return problems


def _check_cta_url(action: Mapping[str, object]) -> list[str]:
    parameters = as_object(action.get("parameters"))
    if parameters is None:
        return ["interactive.action.parameters is required"]
    path = "interactive.action.parameters"
    problems = check_text(
        parameters, "display_text", f"{path}.display_text", limit=CTA_LABEL_LIMIT, required=True
    )
    return problems + check_text(parameters, "url", f"{path}.url", limit=None, required=True)


def _check_product(action: Mapping[str, object]) -> list[str]:
    path = "interactive.action"
    problems = check_text(action, "catalog_id", f"{path}.catalog_id", limit=None, required=True)
    return problems + check_text(
        action, "product_retailer_id", f"{path}.product_retailer_id", limit=None, required=True
    )


def _check_product_list(action: Mapping[str, object]) -> list[str]:
    path = "interactive.action"
    problems = check_text(action, "catalog_id", f"{path}.catalog_id", limit=None, required=True)
    items = 0
    for index, section in enumerate(_sections(action, problems)):
        products = as_list(section.get("product_items")) or []
        if not products:
            problems.append(f"{path}.sections[{index}].product_items must not be empty")
        items += len(products)
    if items > PRODUCT_ITEMS_LIMIT:
        problems.append(
            f"{path}.sections has {items} products in all; the maximum is {PRODUCT_ITEMS_LIMIT}"
        )
    return problems


def _check_flow(action: Mapping[str, object]) -> list[str]:
    parameters = as_object(action.get("parameters"))
    if parameters is None:
        return ["interactive.action.parameters is required"]
    path = "interactive.action.parameters"
    problems = check_text(parameters, "flow_cta", f"{path}.flow_cta", limit=30, required=True)
    if parameters.get("flow_message_version") != "3":
        problems.append(f"{path}.flow_message_version must be '3'")
    if ("flow_id" in parameters) == ("flow_name" in parameters):
        problems.append(f"{path} needs exactly one of flow_id and flow_name")
    return problems


def _named(name: str) -> Check:
    """The check for action kinds identified only by `action.name`."""

    def check(action: Mapping[str, object]) -> list[str]:
        if action.get("name") != name:
            return [f"interactive.action.name must be {name!r}"]
        return []

    return check


def _sections(action: Mapping[str, object], problems: list[str]) -> list[Mapping[str, object]]:
    path = "interactive.action.sections"
    sections = as_list(action.get("sections"))
    if not sections:
        problems.append(f"{path} must hold at least one section")
        return []
    if len(sections) > SECTIONS_LIMIT:
        problems.append(f"{path} has {len(sections)} sections; the maximum is {SECTIONS_LIMIT}")
    found = [as_object(section) or {} for section in sections]
    for index, section in enumerate(found):
        problems += check_text(
            section,
            "title",
            f"{path}[{index}].title",
            limit=SECTION_TITLE_LIMIT,
            required=len(found) > 1,
        )
    return found


_BODY_OPTIONAL: Final = frozenset({"product", "call_permission_request"})

_ACTIONS: Final[Mapping[str, Check]] = {
    "button": _check_buttons,
    "list": _check_list,
    "cta_url": _check_cta_url,
    "product": _check_product,
    "product_list": _check_product_list,
    "flow": _check_flow,
    "location_request_message": _named("send_location"),
    "catalog_message": _named("catalog_message"),
    "call_permission_request": _named("call_permission_request"),
    "order_details": _named("review_and_pay"),
    "order_status": _named("review_order"),
}
