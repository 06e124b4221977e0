"""ZeroMQ TCP endpoints: the default port and IPv4/IPv6 address helpers."""
from __future__ import annotations

import ipaddress

DEFAULT_PORT = 5557


def is_ipv6_literal(host: str) -> bool:
    """True for an IPv6 address such as "::1" or "[::1]" (such sockets need zmq.IPV6 set)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def tcp_address(host: str, port: int | str) -> str:
    """ZeroMQ TCP endpoint; IPv6 literals are bracketed: tcp_address("::1", 5557) == "tcp://[::1]:5557"."""
    host = host.strip("[]")
    return f"tcp://[{host}]:{port}" if is_ipv6_literal(host) else f"tcp://{host}:{port}"


def split_tcp_address(address: str) -> tuple[str, int]:
    """Inverse of tcp_address: "tcp://[::1]:5557" -> ("::1", 5557). Raises ValueError if malformed."""
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected a server address like tcp://HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)

