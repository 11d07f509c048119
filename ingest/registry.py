"""What the RPSL (RIPE, APNIC, AFRINIC, LACNIC) and ARIN workers share: the status -> chain-role
table, registry dates, and range handles written the same way whatever the source.

Status -> role (``docs/ingest.md`` gives the reasoning):

* holder - the registry gave the space to this organisation directly: ALLOCATED PA,
  ALLOCATED-ASSIGNED PA, ALLOCATED UNSPECIFIED, ASSIGNED PI, ASSIGNED ANYCAST, ALLOCATED PORTABLE,
  ASSIGNED PORTABLE, LEGACY (only with an ``org:``), LACNIC allocated/assigned, ARIN Direct
  Allocation, Direct Assignment and the bulk-whois ``allocation``/``assignment`` (their parent is the
  RIR's own block). A Direct Assignment's holder is also its own end user; the registry names no
  separate lessee, so the role stays holder and analysis treats a holder with nothing below as the user.
* upstream - a party that received space from a holder and may pass it on: SUB-ALLOCATED PA,
  ALLOCATED NON-PORTABLE, LACNIC reallocated, ARIN Reallocated / reallocation.
* lessee - the end user: ASSIGNED PA, ASSIGNED NON-PORTABLE, LACNIC reassigned, ARIN Reassigned /
  reassignment.
* None - the status names no new party in the chain: LIR-PARTITIONED PA (an LIR partitioning its own
  allocation) and AGGREGATED-BY-LIR (a group of end-user assignments the LIR does not list one by
  one); counting them as upstream would invent a hop. Also LEGACY without ``org:`` and anything unknown.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from chainrisk.ingest.events import Role
from chainrisk.ingest.prefixes import parse_ipv4_range

ROLE_OF_STATUS: dict[str, Role] = {
    # RIPE / AFRINIC
    "ALLOCATED PA": Role.HOLDER,
    "ALLOCATED-ASSIGNED PA": Role.HOLDER,
    "ALLOCATED UNSPECIFIED": Role.HOLDER,
    "ASSIGNED PI": Role.HOLDER,
    "ASSIGNED ANYCAST": Role.HOLDER,
    "SUB-ALLOCATED PA": Role.UPSTREAM,
    "ASSIGNED PA": Role.LESSEE,
    # APNIC and NIRs
    "ALLOCATED PORTABLE": Role.HOLDER,
    "ASSIGNED PORTABLE": Role.HOLDER,
    "ALLOCATED NON-PORTABLE": Role.UPSTREAM,
    "ASSIGNED NON-PORTABLE": Role.LESSEE,
    # LACNIC (lower-case in its whois; compared upper-cased)
    "ALLOCATED": Role.HOLDER,
    "ASSIGNED": Role.HOLDER,
    "REALLOCATED": Role.UPSTREAM,
    "REASSIGNED": Role.LESSEE,
    # ARIN whois NetType / RDAP type ("Reallocated", "Reassigned" as LACNIC above), bulk whois NetType
    "DIRECT ALLOCATION": Role.HOLDER,
    "DIRECT ASSIGNMENT": Role.HOLDER,
    "ALLOCATION": Role.HOLDER,
    "ASSIGNMENT": Role.HOLDER,
    "REALLOCATION": Role.UPSTREAM,
    "REASSIGNMENT": Role.LESSEE,
}
STATUSES_WITHOUT_ROLE = frozenset({"LIR-PARTITIONED PA", "AGGREGATED-BY-LIR", "LEGACY"})


def normalise_status(status: str) -> str:
    """The status upper-cased with single spaces (``"Assigned  PA"`` -> ``"ASSIGNED PA"``)."""
    return " ".join(status.split()).upper()


def role_for_status(status: str, has_org: bool) -> Role | None:
    """The chain role a registry status implies (table in the module docstring); LEGACY counts as
    holder only when the object names an organisation."""
    key = normalise_status(status)
    if key == "LEGACY":
        return Role.HOLDER if has_org else None
    return ROLE_OF_STATUS.get(key)


_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d))?(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?)?$")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d\d)(\d\d)(?!\d)")


def parse_registry_date(text: str) -> datetime | None:
    """The moment a registry date names, in UTC, or None if it names none.

    Accepts ``2022-03-02T14:23:29Z``, ``2012-02-24T09:44:34-05:00``, ``2014-07-22``, ``20131029`` and
    the old ``changed: someone@example.net 20030303`` form (the last 8-digit date in the text).
    Raises ``ValueError`` (a reject reason) for a date of that shape that is not in the calendar
    (``2026-02-30``): silently treating it as "no date" would date the record by the file instead."""
    value = text.strip()
    match = _ISO.match(value)
    try:
        if match:
            if match.group(4) is None:
                return datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=timezone.utc)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
            return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        compact = _COMPACT.findall(value)
        if compact:
            year, month, day = compact[-1]
            return datetime(int(year), int(month), int(day), tzinfo=timezone.utc)
    except ValueError:  # 2023-02-31, 99999999
        raise ValueError(f"impossible date: {value!r} is not a calendar date") from None
    return None


def range_handle(text: str) -> str:
    """A range written ``"first - last"`` with canonical addresses, so RPSL inetnums, LACNIC CIDRs and
    RDAP handles of one object compare equal. Raises ``ValueError`` (a reject reason) if not IPv4."""
    first, last = parse_ipv4_range(text)
    return f"{first} - {last}"


_REGISTRY_OF_HOST = {
    "ripe": "ripe",
    "arin": "arin",
    "apnic": "apnic",
    "afrinic": "afrinic",
    "lacnic": "lacnic",
}


def registry_of_whois_host(host: str | None) -> str | None:
    """``whois.ripe.net`` -> ``ripe`` (the five RIRs only), else None."""
    if not host:
        return None
    for part in host.lower().split("."):
        if part in _REGISTRY_OF_HOST:
            return _REGISTRY_OF_HOST[part]
    return None
