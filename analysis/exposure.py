"""Per party: exposure (concentration) and what-if questions over a :class:`PortfolioAnalysis`."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chainrisk.analysis.blocks import CONTRACT, BlockResult, PortfolioAnalysis
from chainrisk.analysis.chains import HOLDER, analyse_chain
from chainrisk.analysis.model import Hop
from chainrisk.analysis.signals import comparable_name
from chainrisk.common.memory import without_cyclic_gc
from chainrisk.common.prefixes import covers, prefix_ints
from chainrisk.ingest.events import party_key

# `report exposure` JSON/CSV columns; the first three are the core exposure figures (docs/analysis.md)
EXPOSURE_FIELDS: tuple[str, ...] = ("party", "spof_blocks", "spof_addresses", "spof_lessees", "share", "lessees")


class UnknownParty(LookupError):
    """No party of the portfolio matches the name given."""


@dataclass(slots=True)
class ExposureRow:
    """A party's concentration risk: the leased blocks, addresses and lessees for which it is a
    single point of failure, and the share of all leased addresses that makes."""

    party: str
    spof_blocks: int
    spof_addresses: int
    spof_lessees: int
    share: float
    lessees: list[str]
    party_key: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EXPOSURE_FIELDS}


def exposure(analysis: PortfolioAnalysis) -> list[ExposureRow]:
    """One row per party that is a single point of failure for at least one leased block, sorted
    by ``spof_addresses`` descending (then by name). Addresses are distinct: a block counts with
    its ``leased_addresses`` (a sub-leased /24 inside a leased /22 leaves the /22 768), so
    ``share`` = spof_addresses / all distinct leased addresses (rounded to 6 places) is at most 1.
    ``lessees`` are sorted names."""
    blocks: dict[str, int] = {}
    addresses: dict[str, int] = {}
    lessees: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    with without_cyclic_gc():
        for result in analysis.blocks:
            for key, name in zip(result.spof_keys, result.spofs):
                if key in blocks:
                    blocks[key] += 1
                    addresses[key] += result.leased_addresses
                    lessees[key].add(result.lessee or "")
                else:
                    blocks[key], addresses[key], lessees[key] = 1, result.leased_addresses, {result.lessee or ""}
                    names[key] = name
    total = analysis.total_addresses or 1
    rows = [
        ExposureRow(names[k], blocks[k], addresses[k], len(lessees[k]), round(addresses[k] / total, 6), sorted(lessees[k]), k)
        for k in blocks
    ]
    rows.sort(key=lambda r: (-r.spof_addresses, r.party.casefold(), r.party_key))
    return rows


def resolve_party(analysis: PortfolioAnalysis, text: str) -> str:
    """The key of the party ``text`` names: its key, or a name equal after :func:`party_key`
    normalisation, or equal after :func:`comparable_name`. Raises :class:`UnknownParty` (with
    close candidates) when none or several match."""
    wanted = party_key(text)
    if wanted in analysis.party_names:
        return wanted
    for key, name in analysis.party_names.items():
        if party_key(name) == wanted:
            return key
    loose = comparable_name(text)
    matches = sorted(k for k, n in analysis.party_names.items() if comparable_name(n) == loose)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownParty(f"{text!r} matches several parties: " + ", ".join(analysis.party_names[k] for k in matches))
    near = sorted(n for n in analysis.party_names.values() if loose and loose in comparable_name(n))[:5]
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise UnknownParty(f"no party named {text!r} in the portfolio{hint}")


def blocks_of_party(analysis: PortfolioAnalysis, key: str) -> list[BlockResult]:
    """The leased blocks whose hops name the party (as provider or recipient), in block order."""
    return [r for r in analysis.blocks if any(h.provider == key or h.recipient == key for h in analysis.hops_by_block[r.block])]


# --- what-if: remove a party ---------------------------------------------------------------------
@dataclass(slots=True)
class LostLease:
    lessee: str
    blocks: list[str]
    addresses: int


@dataclass(slots=True)
class SecuredChange:
    block: str
    lessee: str | None
    before: date | None
    after: date | None


@dataclass
class RemovalImpact:
    """What removing ``party`` from every chain does: which lessees lose which blocks (no holder ->
    lessee path is left), the addresses cut off, and how secured_until moves on blocks that keep a
    path. ``own_blocks`` are the blocks the party itself leases (not counted as cut off)."""

    party: str
    blocks_touched: int
    lost: list[LostLease]
    blocks_cut_off: int
    addresses_cut_off: int
    secured_until_changes: list[SecuredChange]
    own_blocks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "blocks_touched": self.blocks_touched,
            "blocks_cut_off": self.blocks_cut_off,
            "addresses_cut_off": self.addresses_cut_off,
            "lost": [{"lessee": x.lessee, "blocks": x.blocks, "addresses": x.addresses} for x in self.lost],
            "secured_until_changes": [
                {"block": c.block, "lessee": c.lessee, "before": _iso(c.before), "after": _iso(c.after)}
                for c in self.secured_until_changes
            ],
            "own_blocks": self.own_blocks,
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def without_party(hops: Iterable[Hop], key: str) -> list[Hop]:
    """The hops that neither come from nor go to the party ``key``."""
    return [h for h in hops if h.provider != key and h.recipient != key]


def remove_party(analysis: PortfolioAnalysis, key: str) -> RemovalImpact:
    """The :class:`RemovalImpact` of taking party ``key`` out of every chain. Blocks that already
    had data errors are left out (they carry nothing to lose)."""
    lost: dict[str, LostLease] = {}
    changes: list[SecuredChange] = []
    own: list[str] = []
    touched = 0
    for result in blocks_of_party(analysis, key):
        if result.data_errors:
            continue
        touched += 1
        if result.lessee_key == key:
            own.append(result.block)
            continue
        after = analyse_chain(result.block, without_party(analysis.hops_by_block[result.block], key))
        if after.errors:
            entry = lost.setdefault(result.lessee or "", LostLease(result.lessee or "", [], 0))
            entry.blocks.append(result.block)
            entry.addresses += result.leased_addresses
        elif analysis.basis[result.block] == CONTRACT and after.secured_until != result.secured_until:
            changes.append(SecuredChange(result.block, result.lessee, result.secured_until, after.secured_until))
    lost_rows = sorted(lost.values(), key=lambda x: (-x.addresses, x.lessee))
    return RemovalImpact(
        party=analysis.party_names.get(key, key),
        blocks_touched=touched,
        lost=lost_rows,
        blocks_cut_off=sum(len(x.blocks) for x in lost_rows),
        addresses_cut_off=sum(x.addresses for x in lost_rows),
        secured_until_changes=changes,
        own_blocks=own,
    )


# --- what-if: transfer a block to a new holder ---------------------------------------------------
@dataclass(slots=True)
class BlockChange:
    block: str
    lessee: str | None
    holders_before: list[str]
    holders_after: list[str]
    spofs_before: list[str]
    spofs_after: list[str]
    secured_before: date | None
    secured_after: date | None
    errors_after: list[str]


@dataclass(slots=True)
class ExposureChange:
    party: str
    spof_addresses_before: int
    spof_addresses_after: int


@dataclass
class TransferImpact:
    """What moving ``block`` (and every leased block inside it) to ``new_holder`` does: the
    holders of those blocks' chains are replaced by the new holder, who re-issues their contracts
    on the same dates; per block the chain before/after, and per party the SPOF addresses that move."""

    block: str
    new_holder: str
    blocks: list[BlockChange]
    exposure_changes: list[ExposureChange]

    def as_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "new_holder": self.new_holder,
            "blocks": [
                {
                    "block": c.block, "lessee": c.lessee, "holders_before": c.holders_before, "holders_after": c.holders_after,
                    "spofs_before": c.spofs_before, "spofs_after": c.spofs_after,
                    "secured_until_before": _iso(c.secured_before), "secured_until_after": _iso(c.secured_after),
                    "errors_after": c.errors_after,
                }
                for c in self.blocks
            ],
            "exposure_changes": [
                {"party": e.party, "spof_addresses_before": e.spof_addresses_before, "spof_addresses_after": e.spof_addresses_after}
                for e in self.exposure_changes
            ],
        }


def transferred_hops(hops: Sequence[Hop], new_key: str, new_name: str) -> list[Hop]:
    """The block's hops after a holder change to ``new_key``: every hop a holder provides is
    provided by the new holder instead (same recipient, dates and terms); hops the new holder
    already provided become holder hops; a hop from the new holder to itself is dropped; when two
    hops end up with the same provider and recipient, the one ending later stays."""
    kept: dict[tuple[str, str], Hop] = {}
    for h in hops:
        if h.provider_role == HOLDER or h.provider == new_key:
            if h.recipient == new_key:
                continue
            h = Hop(h.block, new_key, new_name, HOLDER, h.recipient, h.recipient_name, h.recipient_role,
                    h.start_date, h.end_date, h.lessee_asn, h.renewal_owner, h.document_ref, h.transit_asns)
        edge = (h.provider, h.recipient)
        if edge not in kept or h.end_date > kept[edge].end_date:
            kept[edge] = h
    return list(kept.values())


def transfer_block(analysis: PortfolioAnalysis, block: str, new_holder: str) -> TransferImpact:
    """The :class:`TransferImpact` of ``block`` moving to the party named ``new_holder`` (an
    existing party is matched by :func:`resolve_party`, otherwise a new one is created). Raises
    ``LookupError`` when no leased block equals or lies inside ``block``."""
    try:
        new_key = resolve_party(analysis, new_holder)
        new_name = analysis.party_names[new_key]
    except UnknownParty:
        new_key, new_name = party_key(new_holder), new_holder
    outer = prefix_ints(block)
    affected = [r for r in analysis.blocks if covers(outer, prefix_ints(r.block))]
    if not affected:
        raise LookupError(f"no leased block equals or lies inside {block}")
    changes: list[BlockChange] = []
    delta: dict[str, int] = {}
    for result in affected:
        after = analyse_chain(result.block, transferred_hops(analysis.hops_by_block[result.block], new_key, new_name))
        name = after.name
        changes.append(BlockChange(
            result.block, result.lessee, list(result.holders), [name(k) for k in after.holders], list(result.spofs),
            [name(k) for k in after.spofs], result.secured_until,
            after.secured_until if analysis.basis[result.block] == CONTRACT else None, list(after.errors),
        ))
        for k in result.spof_keys:
            delta[k] = delta.get(k, 0) - result.leased_addresses
        for k in after.spofs:
            delta[k] = delta.get(k, 0) + result.leased_addresses
    before = {row.party_key: row.spof_addresses for row in exposure(analysis)}
    names = dict(analysis.party_names)
    names.setdefault(new_key, new_name)
    moved = [
        ExposureChange(names.get(k, k), before.get(k, 0), before.get(k, 0) + d)
        for k, d in delta.items() if d
    ]
    moved.sort(key=lambda e: (-abs(e.spof_addresses_after - e.spof_addresses_before), e.party))
    return TransferImpact(block, new_name, changes, moved)
