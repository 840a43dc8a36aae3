"""Checking `X-Hub-Signature-256` against the raw body."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from threadline.ingest.adapters.inbound.signature import SignatureRejected, check_signature, sign

BODY = b'{"entry": []}'


def test_signature_is_hmac_sha256_of_the_body_with_the_app_secret() -> None:
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()

    assert sign(BODY, "s3cret") == f"sha256={expected}"


def test_body_signed_with_the_app_secret_is_accepted() -> None:
    check_signature(BODY, sign(BODY, "s3cret"), "s3cret")


def test_signature_in_upper_case_hex_is_accepted() -> None:
    check_signature(
        BODY, "sha256=" + sign(BODY, "s3cret").removeprefix("sha256=").upper(), "s3cret"
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("md5=abc", "must be 'sha256=<hex digest>'"),
        (sign(BODY, "other secret"), "does not match"),
        (sign(BODY + b" ", "s3cret"), "does not match"),
        ("sha256=é", "does not match"),
    ],
)
def test_body_not_signed_with_the_app_secret_is_rejected(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureRejected) as rejected:
        check_signature(BODY, header, "s3cret")

    assert reason in rejected.value.reason
