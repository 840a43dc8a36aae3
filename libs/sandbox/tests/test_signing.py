from __future__ import annotations

import hashlib
import hmac

from threadline.sandbox.signing import sign, verify


def test_signature_is_sha256_prefix_and_hex_hmac_of_the_body() -> None:
    body = b'{"object":"whatsapp_business_account"}'

    signature = sign(body, "s3cret")

    assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_signature_verifies_against_the_same_body_and_secret() -> None:
    body = b'{"entry":[]}'

    assert verify(body, sign(body, "s3cret"), "s3cret")


def test_signature_fails_for_a_changed_body() -> None:
    signature = sign(b'{"entry":[]}', "s3cret")

    assert not verify(b'{"entry":[1]}', signature, "s3cret")


def test_signature_fails_for_another_secret() -> None:
    body = b'{"entry":[]}'

    assert not verify(body, sign(body, "s3cret"), "other")


def test_missing_signature_header_does_not_verify() -> None:
    assert not verify(b"{}", None, "s3cret")
