"""WhatsApp's media types and limits, as the session and the gateway check an operator's files."""

from __future__ import annotations

import pytest

from threadline.media.whatsapp_media import (
    DOCUMENT,
    IMAGE,
    STICKER,
    MediaRefused,
    check_size,
    media_kind,
)


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/jpeg", "image"),
        ("Image/PNG; charset=binary", "image"),
        ("video/3gpp", "video"),
        ("audio/ogg", "audio"),
        ("application/pdf", "document"),
        ("text/plain", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("image/webp", "sticker"),
    ],
)
def test_each_type_is_sent_as_its_whatsapp_type(content_type: str, kind: str) -> None:
    assert media_kind(content_type).name == kind


def test_an_unsupported_type_is_refused_naming_the_field() -> None:
    with pytest.raises(MediaRefused) as refused:
        media_kind("application/zip", field="files[2].content_type")
    assert str(refused.value).startswith("files[2].content_type: 'application/zip' is not")
    assert not refused.value.too_large


def test_sizes_are_checked_against_the_types_limit() -> None:
    check_size(IMAGE, 5 * 1024 * 1024)
    check_size(DOCUMENT, 100 * 1024 * 1024)
    with pytest.raises(MediaRefused) as refused:
        check_size(STICKER, 500 * 1024 + 1, field="files[0]")
    assert str(refused.value) == (
        "files[0]: a sticker may be at most 500 KB (512000 bytes), got 512001 bytes"
    )
    assert refused.value.too_large
    with pytest.raises(MediaRefused, match="empty"):
        check_size(IMAGE, 0)
