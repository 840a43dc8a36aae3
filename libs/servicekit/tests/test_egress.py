"""Which addresses outgoing requests to tenant-chosen URLs may reach (`egress`)."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from threadline.servicekit.egress import PublicOnlyResolver, is_public, refused_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # a cloud's metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1%eth0",
        "fd00::1",
        "::ffff:127.0.0.1",
        "not an address",
    ],
)
def test_private_local_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(address)


def test_a_url_with_a_private_address_literal_is_refused_naming_it() -> None:
    assert "169.254.169.254 is not a public address" in (
        refused_address("http://169.254.169.254/latest/meta-data/") or ""
    )
    assert refused_address("http://[::1]:8080/hooks") is not None
    assert refused_address("https://93.184.215.14/hooks") is None
    assert refused_address("https://hooks.example.com/x") is None  # a name: the resolver checks


class Fixed(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self._addresses
        ]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_only_to_private_addresses_is_refused() -> None:
    with pytest.raises(OSError, match="resolves to no public address"):
        await PublicOnlyResolver(Fixed("10.0.0.5", "127.0.0.1")).resolve("internal.example")


async def test_only_the_public_addresses_of_a_name_are_kept() -> None:
    found = await PublicOnlyResolver(Fixed("10.0.0.5", "8.8.8.8")).resolve("mixed.example")
    assert [result["host"] for result in found] == ["8.8.8.8"]
