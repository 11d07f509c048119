"""One block's contract chain: the DAG of its lease hops, and the per-block figures the issue
defines (depth, single points of failure, secured-until, renewal gaps, data errors).

The chain of a block is the directed graph whose nodes are parties (by key) and whose edges are the
block's hops, provider -> recipient. *Holders* are the parties named as provider with role
``holder``; the *lessee* is the party named as recipient with role ``lessee``. A path is a sequence
of hops from a holder to the lessee.

Everything here runs once per leased block (a million times in the benchmark), so the code works on
small integer-numbered arrays in topological order instead of building a graph object.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chainrisk.analysis.dominators import dominator_masks, mask_members
from chainrisk.analysis.model import Hop

HOLDER = "holder"
LESSEE = "lessee"
NO_END = date.max  # a holder's own right does not expire


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What the contract chain of one block says. Parties are keys; ``names`` maps them to the
    names as given in the input (the first spelling met)."""

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
      the hops supplying X. (An X supplied by no hop at all is reported as a data error instead.)
    * ``path_count``: number of distinct holder -> lessee paths.
    * ``errors`` (data errors; the figures above are then None/empty): no holder; no lessee; several
      lessees; a cycle; no path from any holder to the lessee.
    * ``warnings``: a non-holder party that nothing supplies (its rows cannot carry the lease);
      conflicting lessee ASNs.
    """
    line = _line_chain(block, hops)
    return line if line is not None else analyse_dag(block, hops)


def analyse_dag(block: str, hops: Sequence[Hop]) -> ChainFacts:
    """:func:`analyse_chain` for any shape (the general path; lines take a shortcut)."""
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    keys: list[str] = []
    src: list[int] = []
    dst: list[int] = []
    holder_nodes: set[int] = set()
    lessee_nodes: list[int] = []
    for h in hops:
        u = index.get(h.provider)
        if u is None:
            u = index[h.provider] = len(keys)
            keys.append(h.provider)
            names[h.provider] = h.provider_name
        v = index.get(h.recipient)
        if v is None:
            v = index[h.recipient] = len(keys)
            keys.append(h.recipient)
            names[h.recipient] = h.recipient_name
        src.append(u)
        dst.append(v)
        if h.provider_role == HOLDER:
            holder_nodes.add(u)
        if h.recipient_role == LESSEE and v not in lessee_nodes:
            lessee_nodes.append(v)

    n = len(keys)
    holders = tuple(keys[i] for i in sorted(holder_nodes))
    errors: list[str] = []
    if not holder_nodes:
        errors.append("no holder: no row names a provider with role holder")
    if not lessee_nodes:
        errors.append("no lessee: no row names a recipient with role lessee")
    elif len(lessee_nodes) > 1:
        errors.append("several lessees: " + ", ".join(names[keys[v]] for v in lessee_nodes))

    order = _topological_order(n, src, dst)
    if order is None:
        errors.append("cycle: " + _describe_cycle(n, src, dst, keys, names))
        order = list(range(n))
    lessee = keys[lessee_nodes[0]] if len(lessee_nodes) == 1 else None
    if errors:
        return _failed(block, lessee, holders, tuple(keys[i] for i in order), names, errors)

    # renumber nodes by topological position so every predecessor has a lower number
    pos = [0] * n
    for i, node in enumerate(order):
        pos[node] = i
    preds: list[list[int]] = [[] for _ in range(n)]
    in_hops: list[list[Hop]] = [[] for _ in range(n)]
    for e, h in enumerate(hops):
        v = pos[dst[e]]
        preds[v].append(pos[src[e]])
        in_hops[v].append(h)
    is_root = [order[i] in holder_nodes for i in range(n)]
    target = pos[lessee_nodes[0]]

    reached = [False] * n
    dmin = [0] * n
    dmax = [0] * n
    best = [NO_END] * n
    paths = [0] * n
    for v in range(n):
        lo = hi = None
        top = None
        count = 0
        if is_root[v]:
            lo = hi = 0
            top = NO_END
            count = 1
        for p, h in zip(preds[v], in_hops[v]):
            if not reached[p]:
                continue
            d = dmin[p] + 1
            if lo is None or d < lo:
                lo = d
            d = dmax[p] + 1
            if hi is None or d > hi:
                hi = d
            carried = best[p] if best[p] < h.end_date else h.end_date
            if top is None or carried > top:
                top = carried
            count += paths[p]
        if lo is not None:
            reached[v] = True
            dmin[v] = lo
            dmax[v] = hi  # type: ignore[assignment]
            best[v] = top  # type: ignore[assignment]
            paths[v] = count

    ordered_keys = tuple(keys[i] for i in order)
    if not reached[target]:
        return _failed(block, lessee, holders, ordered_keys, names,
                       [f"no path from a holder to the lessee {names[lessee]}"])  # type: ignore[index]

    dom = dominator_masks(preds, is_root)
    spofs = tuple(ordered_keys[i] for i in mask_members(dom[target]) if i != target)

    warnings: list[str] = []
    gaps: list[str] = []
    supplied_until: list[date | None] = [max((h.end_date for h in in_hops[v]), default=None) for v in range(n)]
    for e, h in enumerate(hops):
        x = pos[src[e]]
        if is_root[x]:
            continue
        limit = supplied_until[x]
        if limit is None:
            warnings.append(f"{h.provider_name} is not supplied by any row of this block")
        elif h.end_date > limit:
            gaps.append(f"{h.provider_name}->{h.recipient_name}")
    asns = {h.lessee_asn for h in in_hops[target] if h.lessee_asn is not None}
    if len(asns) > 1:
        warnings.append("conflicting lessee ASNs: " + ", ".join(f"AS{a}" for a in sorted(asns)))
    return ChainFacts(
        block=block,
        lessee=lessee,
        holders=holders,
        parties=ordered_keys,
        names=names,
        depth_min=dmin[target],
        depth_max=dmax[target],
        spofs=spofs,
        secured_until=best[target],
        renewal_gaps=tuple(gaps),
        path_count=paths[target],
        lessee_asn=min(asns) if asns else None,
        errors=(),
        warnings=tuple(dict.fromkeys(warnings)),
    )


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
        h = by_provider.get(h.recipient)  # type: ignore[assignment]
        if h is None or h.provider_role == HOLDER or len(line) == len(hops):
            return None
        line.append(h)
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


def _topological_order(n: int, src: list[int], dst: list[int]) -> list[int] | None:
    """Kahn's algorithm; node numbers in a topological order (ties by first appearance), or None
    when the edges contain a cycle (a self-loop included)."""
    indegree = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in zip(src, dst):
        succ[u].append(v)
        indegree[v] += 1
    ready = [v for v in range(n) if indegree[v] == 0]
    ready.reverse()
    order: list[int] = []
    while ready:
        u = ready.pop()
        order.append(u)
        for v in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    return order if len(order) == n else None


def _describe_cycle(n: int, src: list[int], dst: list[int], keys: list[str], names: dict[str, str]) -> str:
    """One cycle of the edges, written ``"A -> B -> A"`` with names as given."""
    succ: dict[int, list[int]] = {}
    for u, v in zip(src, dst):
        succ.setdefault(u, []).append(v)
    colour = [0] * n  # 0 new, 1 on the stack, 2 done
    for start in range(n):
        if colour[start]:
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
            elif colour[nxt] == 1:
                loop = path[path.index(nxt):] + [nxt]
                return " -> ".join(names[keys[i]] for i in loop)
            elif colour[nxt] == 0:
                colour[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, ()))))
                path.append(nxt)
    return "(not found)"


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
