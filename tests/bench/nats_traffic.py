"""What NATS carried while a phase ran, from its monitoring endpoint (`/varz`): messages and
bytes in (everything clients sent that someone received: publishes, pull requests, acks,
key-value reads and writes, API calls) and out. Per customer message it says how much of NATS's
work each message costs, and whether a change to the services' traffic made it more or less."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NatsTraffic:
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    # Messages each client sent NATS, by connection name (`threadline-session`, ...; the
    # instances of a service summed); connections closed meanwhile are not in it.
    sent_by: Counter[str] = field(default_factory=Counter)

    def __sub__(self, other: NatsTraffic) -> NatsTraffic:
        sent = Counter(self.sent_by)
        sent.subtract(other.sent_by)
        return NatsTraffic(
            self.in_msgs - other.in_msgs,
            self.out_msgs - other.out_msgs,
            self.in_bytes - other.in_bytes,
            self.out_bytes - other.out_bytes,
            sent,
        )

    def per(self, count: int) -> str:
        """E.g. "NATS 41.2 messages in, 52.0 out (19.1 / 24.5 KB)" for each of `count`."""
        n = max(count, 1)
        senders = ", ".join(
            f"{name.removeprefix('threadline-')} {sent / n:.1f}"
            for name, sent in self.sent_by.most_common()
            if sent > 0
        )
        return (
            f"NATS {self.in_msgs / n:.1f} messages in, {self.out_msgs / n:.1f} out "
            f"({self.in_bytes / n / 1000:.1f} / {self.out_bytes / n / 1000:.1f} KB)"
            + (f"; sent by {senders}" if senders else "")
        )


def read_traffic(monitoring_url: str) -> NatsTraffic:
    """NATS's counts since it started, and each open connection's."""
    with urllib.request.urlopen(f"{monitoring_url}/varz", timeout=5) as response:
        varz = json.load(response)
    with urllib.request.urlopen(f"{monitoring_url}/connz?limit=4096", timeout=5) as response:
        connz = json.load(response)
    sent: Counter[str] = Counter()
    for connection in connz["connections"]:
        sent[connection.get("name") or "unnamed"] += connection["in_msgs"]
    return NatsTraffic(varz["in_msgs"], varz["out_msgs"], varz["in_bytes"], varz["out_bytes"], sent)


class TrafficWatch:
    """Started on creation: `stop()` gives what NATS carried since; without a monitoring URL
    (a NATS not embedded here) it reads nothing and gives None."""

    def __init__(self, monitoring_url: str) -> None:
        self._url = monitoring_url
        self._before = read_traffic(monitoring_url) if monitoring_url else None

    def stop(self) -> NatsTraffic | None:
        if self._before is None:
            return None
        return read_traffic(self._url) - self._before
