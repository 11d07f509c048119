"""One block's contract chain: the DAG of its lease hops, and the per-block figures read off it
(depth, single points of failure, secured-until, renewal gaps, data errors).

The chain of a block is the directed graph whose nodes are parties (by key) and whose edges are the
block's hops, provider -> recipient. *Holders* are the parties named as provider with role
``holder``; the *lessee* is the party named as recipient with role ``lessee``. A path is a sequence
of hops from a holder to the lessee.

Everything here runs once per leased block (a million times in the benchmark), so instead of
building a graph object it takes one pass over plain dicts in topological order, and simple lines
(most blocks) take a shortcut that gives the same answers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chainrisk.analysis.model import Hop

HOLDER = "holder"
LESSEE = "lessee"
NO_END = date.max  # a holder's own right does not expire


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~2 us more per block
class ChainFacts:
    """What the contract chain of one block says. Parties are keys; ``names`` maps them to the
    names as given in the input (the first spelling met). Treat as read-only."""

    block: str
    lessee: str | None
    holders: tuple[str, ...]
    parties: tuple[str, ...]  # every party of the block's rows, in topological order when acyclic
    names: dict[str, str]
    depth_min: int | None
    depth_max: int | None
    spofs: tuple[str, ...]  # holder side first
    secured_until: date | None
    renewal_gaps: tuple[str, ...]
    path_count: int
    lessee_asn: int | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def name(self, key: str) -> str:
        return self.names.get(key, key)


def analyse_chain(block: str, hops: Sequence[Hop]) -> ChainFacts:
    """The chain facts of ``block`` from its lease hops (all hops must be of that block).

    * ``depth_min`` / ``depth_max``: fewest / most hops on a path from a holder to the lessee.
    * ``spofs``: parties other than the lessee on every holder -> lessee path, i.e. the dominators of
      the lessee below a virtual root that points at every holder (a holder counts when all paths
      start at it).
    * ``secured_until``: max over paths of the min ``end_date`` along the path.
    * ``renewal_gaps``: ``"X->Y"`` (names as given) for each hop X -> Y where X is not a holder, X is
      supplied by at least one hop, and the hop's ``end_date`` is later than every ``end_date`` of
      the hops supplying X. (An X supplied by no hop at all is a warning instead; when that cuts
      the lessee off, the block has the "no path" data error.)
    * ``path_count``: number of distinct holder -> lessee paths.
    * ``errors`` (data errors; the figures above are then None/empty): no holder; no lessee; several
      lessees; a cycle; no path from any holder to the lessee.
    * ``warnings``: a non-holder party that nothing supplies (its rows cannot carry the lease);
      conflicting lessee ASNs.
    """
    line = _line_chain(block, hops)
    return line if line is not None else analyse_dag(block, hops)


def analyse_dag(block: str, hops: Sequence[Hop]) -> ChainFacts:
    """:func:`analyse_chain` for any shape (the general path; lines take a shortcut).

    One pass in topological order (Kahn, ties by first appearance) carries, per party a holder
    reaches: fewest and most hops from a holder, the best "secured until" (max over incoming hops
    of min(supplier's value, hop end)), the number of paths, and its dominator set as a bitmask
    over topological positions. On a DAG the dominator equation is solved in that one pass,

        dom(v) = {v} | intersection of dom(p) over the reached suppliers p of v,

    with a virtual root pointing at every holder, so dom(holder) = {holder}. networkx's
    ``immediate_dominators`` (Cooper-Harvey-Kennedy) is the reference the tests compare with;
    building a networkx graph per block would cost more than this whole function."""
    names: dict[str, str] = {}
    supplies: dict[str, list[Hop]] = {}  # party -> hops into it
    succ: dict[str, list[str]] = {}
    holders: dict[str, None] = {}
    lessees: dict[str, None] = {}
    for h in hops:
        p, r = h.provider, h.recipient
        if p not in names:
            names[p] = h.provider_name
        if r not in names:
            names[r] = h.recipient_name
        if r in supplies:
            supplies[r].append(h)
        else:
            supplies[r] = [h]
        if p in succ:
            succ[p].append(r)
        else:
            succ[p] = [r]
        if h.provider_role == HOLDER:
            holders[p] = None
        if h.recipient_role == LESSEE:
            lessees[r] = None

    errors: list[str] = []
    if not holders:
        errors.append("no holder: no row names a provider with role holder")
    if not lessees:
        errors.append("no lessee: no row names a recipient with role lessee")
    elif len(lessees) > 1:
        errors.append("several lessees: " + ", ".join(names[k] for k in lessees))
    indegree = {k: len(supplies.get(k, ())) for k in names}
    order = [k for k in names if not indegree[k]]
    i = 0
    while i < len(order):
        for v in succ.get(order[i], ()):
            indegree[v] -= 1
            if not indegree[v]:
                order.append(v)
        i += 1
    if len(order) < len(names):
        errors.append("cycle: " + _describe_cycle(succ, names))
        order += [k for k in names if indegree[k]]
    holder_keys = tuple(holders)
    if errors:
        return _failed(block, next(iter(lessees)) if len(lessees) == 1 else None, holder_keys, tuple(order), names, errors)
    (lessee,) = lessees  # no errors: exactly one

    bit = {k: 1 << n for n, k in enumerate(order)}
    state: dict[str, tuple[int, int, date, int, int]] = {}  # party -> (dmin, dmax, secured, paths, dominators)
    for v in order:
        if v in holders:
            lo, hi, top, count, dom = 0, 0, NO_END, 1, 0
        else:
            lo, hi, top, count, dom = -1, -1, date.min, 0, -1
        for h in supplies.get(v, ()):
            s = state.get(h.provider)
            if s is None:
                continue
            if lo < 0 or s[0] + 1 < lo:
                lo = s[0] + 1
            if s[1] + 1 > hi:
                hi = s[1] + 1
            carried = s[2] if s[2] < h.end_date else h.end_date
            if carried > top:
                top = carried
            count += s[3]
            if dom:
                dom &= s[4]
        if lo >= 0:
            state[v] = (lo, hi, top, count, dom | bit[v])
    final = state.get(lessee)
    if final is None:
        return _failed(block, lessee, holder_keys, tuple(order), names, [f"no path from a holder to the lessee {names[lessee]}"])

    spofs = tuple(k for k in order if final[4] & bit[k] and k != lessee)
    gaps: list[str] = []
    warnings: list[str] = []
    for h in hops:
        if h.provider in holders:
            continue
        supply = supplies.get(h.provider)
        if supply is None:
            warnings.append(f"{h.provider_name} is not supplied by any row of this block")
        elif h.end_date > max(x.end_date for x in supply):
            gaps.append(f"{h.provider_name}->{h.recipient_name}")
    asns = {h.lessee_asn for h in supplies[lessee] if h.lessee_asn is not None}
    if len(asns) > 1:
        warnings.append("conflicting lessee ASNs: " + ", ".join(f"AS{a}" for a in sorted(asns)))
    return ChainFacts(block, lessee, holder_keys, tuple(order), names, final[0], final[1], spofs, final[2], tuple(gaps),
                      final[3], min(asns) if asns else None, (), tuple(dict.fromkeys(warnings)))


def _line_chain(block: str, hops: Sequence[Hop]) -> ChainFacts | None:
    """The chain facts when the hops form one simple line holder -> ... -> lessee (most blocks),
    computed without the general machinery; None for any other shape. Same definitions as
    :func:`analyse_chain`: on a line every party but the lessee is a SPOF, both depths are the
    number of hops, secured_until is the earliest end date, and hop i is a renewal gap when it
    ends after hop i-1."""
    by_provider: dict[str, Hop] = {}
    head = None
    for h in hops:
        if h.provider in by_provider:
            return None
        by_provider[h.provider] = h
        if h.provider_role == HOLDER:
            if head is not None:
                return None
            head = h
    if head is None:
        return None
    line = [head]
    h = head
    while h.recipient_role != LESSEE:
        after = by_provider.get(h.recipient)
        if after is None or after.provider_role == HOLDER or len(line) == len(hops):
            return None
        line.append(after)
        h = after
    if len(line) != len(hops):
        return None
    last = line[-1]
    if last.recipient in by_provider:
        return None
    names: dict[str, str] = {}
    for x in hops:  # the first spelling met, as the general path does
        if x.provider not in names:
            names[x.provider] = x.provider_name
        if x.recipient not in names:
            names[x.recipient] = x.recipient_name
    if len(names) != len(line) + 1:
        return None
    secured = head.end_date
    gaps = []
    previous = head
    for x in line[1:]:
        if x.end_date < secured:
            secured = x.end_date
        if x.end_date > previous.end_date:
            gaps.append(f"{x.provider_name}->{x.recipient_name}")
        previous = x
    spofs = tuple(x.provider for x in line)
    return ChainFacts(block, last.recipient, (head.provider,), spofs + (last.recipient,), names, len(line), len(line),
                      spofs, secured, tuple(gaps), 1, last.lessee_asn, ())


def _failed(block: str, lessee: str | None, holders: tuple[str, ...], parties: tuple[str, ...],
            names: dict[str, str], errors: list[str]) -> ChainFacts:
    return ChainFacts(block, lessee, holders, parties, names, None, None, (), None, (), 0, None, tuple(errors))


def _describe_cycle(succ: dict[str, list[str]], names: dict[str, str]) -> str:
    """One cycle of the graph ``succ``, written ``"A -> B -> A"`` with names as given."""
    colour: dict[str, int] = {}  # absent new, 1 on the stack, 2 done
    for start in names:
        if start in colour:
            continue
        stack = [(start, iter(succ.get(start, ())))]
        path = [start]
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                return " -> ".join(names[k] for k in path[path.index(nxt):] + [nxt])
            elif nxt not in colour:
                colour[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, ()))))
                path.append(nxt)
    return "(not found)"


def party_depths(hops: Sequence[Hop]) -> dict[str, int]:
    """The depth of every party a holder reaches in one block's hops: the fewest hops from any
    holder (holders are 0). The lessee's is :func:`analyse_chain`'s ``depth_min``, which the
    topological pass there computes along with the other figures; this breadth-first walk answers
    for every party and for any shape, cycles and cut-off parties included, as the blast radius of
    an upstream change needs (the change itself may have broken the chain)."""
    depth: dict[str, int] = {h.provider: 0 for h in hops if h.provider_role == HOLDER}
    frontier = list(depth)
    children: dict[str, list[str]] = {}
    for h in hops:
        children.setdefault(h.provider, []).append(h.recipient)
    while frontier:
        nxt = []
        for party in frontier:
            for child in children.get(party, ()):
                if child not in depth:
                    depth[child] = depth[party] + 1
                    nxt.append(child)
        frontier = nxt
    return depth


def holder_lessee_paths(hops: Sequence[Hop], limit: int = 50) -> list[list[str]]:
    """Up to ``limit`` holder -> lessee paths of one block, each as party keys, shortest first.
    For display only: the figures above never enumerate paths."""
    succ: dict[str, list[str]] = {}
    for h in hops:
        succ.setdefault(h.provider, []).append(h.recipient)
    holders = list(dict.fromkeys(h.provider for h in hops if h.provider_role == HOLDER))
    lessees = {h.recipient for h in hops if h.recipient_role == LESSEE}
    found: list[list[str]] = []
    stack = [[hd] for hd in reversed(holders)]
    while stack and len(found) < limit:
        path = stack.pop()
        last = path[-1]
        if last in lessees:
            found.append(path)
            continue
        for nxt in reversed(succ.get(last, ())):
            if nxt not in path:
                stack.append(path + [nxt])
    return sorted(found, key=len)
