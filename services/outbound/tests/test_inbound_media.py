import base64
import hashlib

import pytest

from threadline.outbound.domain.inbound_media import NotMedia, inbound_media, sha256_hex_of

DATA = b"a customer's photo"
HEX = hashlib.sha256(DATA).hexdigest()


def test_the_webhooks_base64_and_the_look_ups_hex_are_the_same_hash() -> None:
    assert sha256_hex_of(base64.b64encode(hashlib.sha256(DATA).digest()).decode()) == HEX
    assert sha256_hex_of(base64.urlsafe_b64encode(hashlib.sha256(DATA).digest()).decode()) == HEX
    assert sha256_hex_of(HEX.upper()) == HEX


@pytest.mark.parametrize("value", ["", "abc", base64.b64encode(b"short").decode(), "z" * 64])
def test_what_is_no_sha256_is_not_read_as_one(value: str) -> None:
    assert sha256_hex_of(value) is None


def test_the_media_object_of_a_voice_note() -> None:
    payload = {
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": base64.b64encode(hashlib.sha256(DATA).digest()).decode(),
        "id": "1037543291543636",
        "voice": True,
    }

    media = inbound_media(
        message_id="m1", conversation_id="c1", media_type="audio", payload=payload
    )

    assert (media.media_id, media.mime_type, media.sha256, media.voice) == (
        "1037543291543636",
        "audio/ogg; codecs=opus",
        HEX,
        True,
    )
    assert (media.caption, media.file_name) == ("", "")


def test_a_document_keeps_its_name_and_caption_and_an_unreadable_hash_is_left_out() -> None:
    payload = {"id": "42", "filename": "invoice.pdf", "caption": "May", "sha256": "nope"}

    media = inbound_media(
        message_id="m1", conversation_id="c1", media_type="document", payload=payload
    )

    assert (media.file_name, media.caption, media.sha256) == ("invoice.pdf", "May", "")


@pytest.mark.parametrize("payload", [None, [], {}, {"id": ""}, {"id": 42}])
def test_a_media_object_without_an_id_is_not_media(payload: object) -> None:
    with pytest.raises(NotMedia):
        inbound_media(message_id="m1", conversation_id="c1", media_type="image", payload=payload)
