"""Which leased blocks a change of facts can affect: the rule the consumer's incremental analysis
uses to re-analyse only those blocks (graph/continuous.py), so that what it keeps equals what a full
``chainrisk analyze`` of the same graph writes.

Pure: changed facts (fact type, prefix) and dates in, prefixes out.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from chainrisk.analysis.blocks import EXPIRY_WARNING
from chainrisk.common.prefixes import ints_to_prefix, prefix_ints

# A block's figures read these facts of the block itself or of the prefixes covering it: its own
# lease hops (and, for a sub-lease, those of the leases covering it: ``blocks.sublease_hops``), the
# delegations (which RIR the block is under),
# VRPs (RFC 6811 looks at covering VRPs only), the BGP origins, AS paths and IRR route objects; and
# the facts about no one prefix, whose events name 0.0.0.0/0 - non-functional CAs (a CA's resources
# are not listed: any block with a VRP under its publication point), ASPAs and ASN blocklist entries
# (any block with the AS on a path) - so every block.
WITHIN_TYPES = frozenset({"lease_hop", "delegation", "vrp", "route_origin", "route_object", "as_path", "nonfunctional_ca", "aspa", "asn_listing"})
# ...and these of every prefix overlapping it, covering or inside: registry objects (the registry
# chain and holder cover it; source clarity finds footprints in objects inside it too; an assignment
# makes a block a registry-basis lease) and blocklist entries (a listing inside a block counts).
OVERLAPPING_TYPES = frozenset({"registration", "blocklist_entry"})
# Holder transfers are not read by the block analysis (they feed the holder history and the
# holder-change alerts), and a snapshot end only completes a snapshot: the retractions it causes
# are changes of their own.
UNREAD_TYPES = frozenset({"holder_transfer", "snapshot_end"})


@dataclass(frozen=True)
class AffectedPrefixes:
    """``within``: every leased block equal to or inside one of these prefixes may have new
    results; ``overlapping``: every leased block equal to, inside or covering one of these."""

    within: tuple[str, ...] = ()
    overlapping: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.within or self.overlapping)


def affected_prefixes(changed: Iterable[tuple[str, str]]) -> AffectedPrefixes:
    """For the facts a batch changed, as ``(fact type, prefix)`` pairs (asserted, updated or
    retracted; the prefix is the event's ``block``), the prefixes around which leased blocks may now
    have different analysis results: each lease hop, delegation, VRP, BGP origin, AS path and route object
    prefix, and the ``0.0.0.0/0`` of a non-functional CA, ASPA or ASN blocklist entry, as
    ``within`` (the blocks equal to or inside it), each registration and blocklist prefix as
    ``overlapping`` (those and the blocks covering it). Transfers and snapshot ends affect no
    block's figures. A fact re-stated with a newer observation time counts (the VRPs' export time
    is a figure's input: ROAs lapsing soon after it).

    Party facts need no rule of their own: the analysis reads a party only through the hops of the
    block's chain (names, roles, dates: lease hops of the block or of a lease covering it) and
    through the registry objects overlapping the block, both covered above. A prefix named under
    both rules is given once, as ``overlapping``. Both tuples are sorted. Raises ``ValueError`` for
    a fact type it does not know (a new fact type needs its rule here)."""
    within: set[str] = set()
    overlapping: set[str] = set()
    for fact_type, prefix in changed:
        if fact_type in WITHIN_TYPES:
            within.add(prefix)
        elif fact_type in OVERLAPPING_TYPES:
            overlapping.add(prefix)
        elif fact_type not in UNREAD_TYPES:
            raise ValueError(f"no rule for which blocks a {fact_type!r} fact affects")
    return AffectedPrefixes(tuple(sorted(within - overlapping)), tuple(sorted(overlapping)))


def covering_prefixes(prefix: str) -> list[str]:
    """``prefix`` and every prefix covering it (``10.1.2.0/24``: ``/24``, ``10.1.2.0/23``, ...,
    ``0.0.0.0/0``), most specific first."""
    first, length = prefix_ints(prefix)
    return [ints_to_prefix(first & ~((1 << (32 - n)) - 1) & 0xFFFFFFFF, n) for n in range(length, -1, -1)]


def date_window(horizon: timedelta = EXPIRY_WARNING) -> timedelta:
    """How far ahead of today a block's ``secured_until`` can lie and still have its figures (the
    ``expiring`` risk flag, or a secured-until alert with a ``horizon``) depend on today's date."""
    return max(EXPIRY_WARNING, horizon)


def date_sensitive(secured_until: date | None, analysed_on: date | None, today: date,
                   horizon: timedelta = EXPIRY_WARNING) -> bool:
    """Whether a block whose stored results were computed on ``analysed_on`` (None: not known) with
    that ``secured_until`` must be re-analysed on ``today``: its figures change with the date only
    when ``secured_until`` is on or after the day it was analysed (a block expired then stays
    expired) and before ``today`` plus :func:`date_window` (later ones are not expiring yet).
    A block without ``secured_until`` (registry basis, data error) never is, nor one analysed today."""
    if secured_until is None or (analysed_on is not None and analysed_on >= today):
        return False
    return (analysed_on is None or analysed_on <= secured_until) and secured_until < today + date_window(horizon)
