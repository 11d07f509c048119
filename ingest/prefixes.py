"""IPv4 prefix, range and AS-number parsing shared by the ingest workers.

Every parser raises ``ValueError`` whose message is a reject reason a person understands, shaped
``"<kind>: <detail>"`` so the ingest summary can count rejects per kind (the text before the colon).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from ipaddress import IPv4Address, IPv4Network

from chainrisk.ingest.events import CANONICAL_IPV4_ADDRESS, is_canonical_ipv4_prefix

IPV6_OUT_OF_SCOPE = "IPv6 is out of scope: chainrisk analyses IPv4 leases"
MAX_ASN = 2**32 - 1


def parse_ipv4_prefix(text: str) -> IPv4Network:
    """The IPv4 network written as ``a.b.c.d/len`` (surrounding blanks ignored).

    Raises ``ValueError`` with the reason: IPv6 is out of scope; host bits set (naming the network
    that was probably meant); no prefix length; or not valid IPv4.
    """
    value = text.strip()
    if not value:
        raise ValueError("not valid IPv4 prefix: the field is empty")
    if ":" in value:
        raise ValueError(IPV6_OUT_OF_SCOPE)
    if "/" not in value:
        raise ValueError(f"not valid IPv4 prefix: {value!r} has no /length (write e.g. {value}/24)")
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"not valid IPv4 prefix: {value!r}") from None
    if network.network_address != IPv4Address(value.split("/", 1)[0]):
        raise ValueError(f"host bits set: {value} is not a network address (did you mean {network}?)")
    return network


def canonical_ipv4_prefix(text: str) -> str:
    """The IPv4 prefix ``text`` names, as canonical ``a.b.c.d/len`` text: the fast path of
    :func:`parse_ipv4_prefix` for callers that need only the text (same ``ValueError`` reasons)."""
    value = text.strip()
    if is_canonical_ipv4_prefix(value):
        return value
    return str(parse_ipv4_prefix(value))


def parse_ipv4_address(text: str) -> IPv4Address:
    """The IPv4 address ``a.b.c.d``; ``ValueError`` (IPv6 out of scope, or not valid IPv4) otherwise."""
    value = text.strip()
    if ":" in value:
        raise ValueError(IPV6_OUT_OF_SCOPE)
    try:
        return IPv4Address(value)
    except ValueError:
        raise ValueError(f"not valid IPv4 address: {value!r}") from None


_CANONICAL_ADDRESS = re.compile(CANONICAL_IPV4_ADDRESS)


def ipv4_address_number(text: str) -> tuple[str, int]:
    """(canonical text, number) of the IPv4 address ``a.b.c.d``: :func:`parse_ipv4_address` (same
    ``ValueError`` reasons) without building an ``IPv4Address`` for text already in canonical form."""
    value = text.strip()
    if _CANONICAL_ADDRESS.fullmatch(value):
        return value, int.from_bytes(socket.inet_aton(value), "big")
    address = parse_ipv4_address(value)
    return str(address), int(address)


def range_to_cidrs(start: str | IPv4Address, end: str | IPv4Address) -> list[IPv4Network]:
    """The shortest list of CIDR blocks that exactly covers ``start``..``end`` (both inclusive),
    lowest first. Raises ``ValueError`` if either end is not IPv4 or ``end`` is below ``start``."""
    first = start if isinstance(start, IPv4Address) else parse_ipv4_address(start)
    last = end if isinstance(end, IPv4Address) else parse_ipv4_address(end)
    if last < first:
        raise ValueError(f"range end before start: {last} is below {first}")
    return list(ipaddress.summarize_address_range(first, last))


def parse_ipv4_range(text: str) -> tuple[IPv4Address, IPv4Address]:
    """The first and last address of ``"a - b"`` (blanks optional) or of a CIDR ``a.b.c.d/len``.

    Raises ``ValueError`` with a reject reason (see :func:`parse_ipv4_prefix`, :func:`range_to_cidrs`).
    """
    value = text.strip()
    if "/" in value:
        network = parse_ipv4_prefix(value)
        return network.network_address, network.broadcast_address
    if ":" in value:
        raise ValueError(IPV6_OUT_OF_SCOPE)
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"not valid IPv4 range: {value!r} (expected 'first - last' or a CIDR)")
    first, last = parse_ipv4_address(parts[0]), parse_ipv4_address(parts[1])
    if last < first:
        raise ValueError(f"range end before start: {last} is below {first}")
    return first, last


def parse_asn(text: str | int) -> int:
    """The AS number in ``64500``, ``AS64500`` or ``as64500`` (asplain, 0..4294967295).

    Raises ``ValueError("not an AS number: ...")`` for anything else.
    """
    if isinstance(text, bool):  # bool is an int subclass; True is not AS1
        raise ValueError(f"not an AS number: {text!r} (expected e.g. 64500 or AS64500)")
    if isinstance(text, int):
        number = text
    else:
        value = text.strip()
        digits = value[2:] if value[:2].upper() == "AS" else value
        if not digits.isascii() or not digits.isdigit():
            raise ValueError(f"not an AS number: {value[:40]!r} (expected e.g. 64500 or AS64500)")
        if len(digits.lstrip("0")) > 10:  # int() refuses 4,300 digits; no AS number has more than 10
            raise ValueError(f"not an AS number: {value[:20]}... ({len(digits):,} digits) is outside 0..{MAX_ASN}")
        number = int(digits)
    if not 0 <= number <= MAX_ASN:
        raise ValueError(f"not an AS number: {number} is outside 0..{MAX_ASN}")
    return number
