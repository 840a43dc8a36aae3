"""Requests to addresses a tenant chose (outgoing webhooks): only to the public internet.

A URL configured through the API could otherwise make the platform call what only it can
reach — a cloud's metadata service (169.254.169.254), the database, NATS's monitoring port, a
service on localhost (server-side request forgery). `PublicOnlyResolver` resolves names as
aiohttp's default resolver does and keeps only public addresses, so the check holds at the
moment of the request (a name that later resolves elsewhere is checked again);
`refused_address` refuses a URL whose host is an address literal (which aiohttp connects to
without resolving). A development platform, whose receivers are on this machine, allows
private addresses by configuration.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL


def is_public(address: str) -> bool:
    """Whether `address` (IPv4 or IPv6, a zone allowed) is on the public internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refused_address(url: str) -> str | None:
    """Why `url` may not be called (its host is a non-public address literal); else None."""
    host = URL(url).host or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: resolved (and checked) by `PublicOnlyResolver`
    if is_public(host):
        return None
    return f"{host} is not a public address (private, loopback, link-local or reserved)"


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to no public address."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [result for result in found if is_public(result["host"])]
        if not public:
            addresses = ", ".join(sorted({result["host"] for result in found}))[:200]
            # With an errno, so aiohttp's connection error shows the text (its `strerror`).
            raise OSError(
                errno.EACCES, f"{host} resolves to no public address ({addresses}); refused"
            )
        return public

    async def close(self) -> None:
        await self._inner.close()
