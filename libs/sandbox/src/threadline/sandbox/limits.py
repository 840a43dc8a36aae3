"""Small checks shared by the send-message rules: required fields and lengths in code points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def as_object(value: object) -> Mapping[str, object] | None:
    """`value` as a JSON object, or None when it is something else."""
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return value
    return None


def as_list(value: object) -> Sequence[object] | None:
    """`value` as a JSON array, or None when it is something else."""
    return value if isinstance(value, list) else None


def check_text(
    parent: Mapping[str, object], key: str, path: str, *, limit: int | None, required: bool
) -> list[str]:
    """Problems with the string `parent[key]`: absent, empty, not a string, or too long.

    Lengths count code points, as WhatsApp does, so an emoji counts once.
    """
    value = parent.get(key)
    if value is None:
        return [f"{path} is required"] if required else []
    if not isinstance(value, str):
        return [f"{path} must be a string"]
    if required and not value.strip():
        return [f"{path} must not be empty"]
    if limit is not None and len(value) > limit:
        return [f"{path} is {len(value)} characters; the maximum is {limit}"]
    return []


def check_object(parent: Mapping[str, object], key: str, path: str) -> list[str]:
    """Problems when `parent[key]` is not present as a JSON object."""
    value = parent.get(key)
    if value is None:
        return [f"{path} is required"]
    return [] if as_object(value) is not None else [f"{path} must be an object"]
