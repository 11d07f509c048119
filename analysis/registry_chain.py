"""The registry chain of a block: RIR -> holder -> sub-allocations -> assignment, from the registry
objects (``RegistryRecord``) that cover the block.

Ordering: least specific prefix first; among objects on the same prefix (ARIN lists a Direct
Allocation and a Reallocated net on one /16) the ``parent_handle`` links decide, then the role
(holder, upstream, broker, lessee).

Party rule: a link's party is the object's org (registrant). When the org is missing, or equals the
org of the object above it, the object is represented by its netname as a distinct party (key
``party_key(netname)``). Why: ARIN lists a reseller's Reallocated net under the same OrgID as the
allocation above it (NET-104-144-0-0-2 "SERVERMANIA" under B2 Net Solutions' BNS-34); the netname
is then the only trace of the reseller, and it is a real link of the chain.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chainrisk.analysis.chains import NO_END
from chainrisk.analysis.model import Hop, RegistryRecord
from chainrisk.common.prefixes import prefix_ints
from chainrisk.ingest.events import party_key

ROLE_RANK = {"holder": 0, "upstream": 1, "broker": 2, "lessee": 3}
REGISTRY_HOP_START = date.min


@dataclass(frozen=True, slots=True)
class RegistryLink:
    """One registry object of a block's registry chain, with the party it stands for."""

    registry: str
    handle: str
    block: str
    status: str
    role: str | None
    party: str  # key
    party_name: str  # as given (org name, or the netname under the party rule)
    by_netname: bool

    def label(self) -> str:
        return f"{self.party_name} ({self.status}, {self.handle})"


def order_registry_records(records: Sequence[RegistryRecord]) -> list[RegistryRecord]:
    """``records`` (all covering one block) from the top of the registry chain to the bottom: by
    prefix length, then by how many of the others are reachable through ``parent_handle`` above
    it, then by role (holder, upstream, broker, lessee, none)."""
    by_handle = {r.handle: r for r in records}

    def parent_depth(record: RegistryRecord) -> int:
        depth, seen, current = 0, {record.handle}, record
        while current.parent_handle in by_handle and current.parent_handle not in seen:
            seen.add(current.parent_handle)
            current = by_handle[current.parent_handle]
            depth += 1
        return depth

    return sorted(records, key=lambda r: (prefix_ints(r.block)[1], parent_depth(r), ROLE_RANK.get(r.role or "", 4), r.handle))


def registry_links(records: Sequence[RegistryRecord]) -> list[RegistryLink]:
    """The chain of parties the covering ``records`` express, top first, starting at the topmost
    object with role holder (objects above it and role-less objects below it carry no party).
    Party rule in the module docstring; consecutive objects of one party are one link."""
    links: list[RegistryLink] = []
    parent_org: str | None = None
    started = False
    for record in order_registry_records(records):
        if record.role == "holder":
            started = True
        if not started or record.role is None:
            parent_org = record.org_key or parent_org
            continue
        if record.org_key and record.org_key != parent_org:
            key, name, by_netname = record.org_key, record.org_name or record.org_key, False
        else:
            label = record.netname or record.handle
            key, name, by_netname = party_key(label), label, True
        parent_org = record.org_key or parent_org
        if links and links[-1].party == key:
            continue
        links.append(RegistryLink(record.registry, record.handle, record.block, record.status, record.role, key, name, by_netname))
    return links


def registry_hops(block: str, links: Sequence[RegistryLink]) -> list[Hop]:
    """Lease hops equivalent to a registry chain that ends in an assignment (role lessee), so the
    chain analysis can run on it: the first link provides as holder, the others as their role.
    Registry rights carry no end date (``NO_END``) and the object handle is the document."""
    hops = []
    for upper, lower in zip(links, links[1:]):
        hops.append(Hop(
            block=block,
            provider=upper.party,
            provider_name=upper.party_name,
            provider_role="holder" if upper is links[0] else (upper.role or "upstream"),
            recipient=lower.party,
            recipient_name=lower.party_name,
            recipient_role=lower.role or "upstream",
            start_date=REGISTRY_HOP_START,
            end_date=NO_END,
            document_ref=f"{lower.registry}:{lower.handle}",
        ))
    return hops
