"""Brute-force reference answers, deliberately naive, for tests and the benchmark baseline.

* single points of failure: remove each party in turn and test whether the lessee can still be
  reached from a holder (the textbook definition of a single point of failure);
* depth and secured-until: enumerate every holder -> lessee path.

Slow (parties x hops per block, or exponential in the worst case), never used by the analysis.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chainrisk.analysis.chains import HOLDER, LESSEE
from chainrisk.analysis.model import Hop


@dataclass(frozen=True)
class BruteForceAnswer:
    reachable: bool  # the lessee can be reached from a holder with every party present
    spofs: frozenset[str]  # party keys whose removal disconnects the lessee
    depth_min: int | None
    depth_max: int | None
    secured_until: date | None


def lessee_reachable(hops: Sequence[Hop], lessee: str, removed: str | None = None) -> bool:
    """True when some holder other than ``removed`` reaches ``lessee`` through hops that avoid
    ``removed`` (breadth-first search)."""
    succ: dict[str, list[str]] = {}
    for h in hops:
        if h.provider != removed and h.recipient != removed:
            succ.setdefault(h.provider, []).append(h.recipient)
    frontier = [h.provider for h in hops if h.provider_role == HOLDER and h.provider != removed]
    seen = set(frontier)
    while frontier:
        node = frontier.pop()
        if node == lessee:
            return True
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return False


def brute_force_spofs(hops: Sequence[Hop], lessee: str) -> frozenset[str]:
    """Every party other than ``lessee`` whose removal leaves no holder -> lessee path."""
    parties = {h.provider for h in hops} | {h.recipient for h in hops}
    parties.discard(lessee)
    return frozenset(p for p in parties if not lessee_reachable(hops, lessee, removed=p))


def all_paths(hops: Sequence[Hop], lessee: str) -> list[list[Hop]]:
    """Every simple holder -> lessee path, as its list of hops (depth-first enumeration)."""
    out_hops: dict[str, list[Hop]] = {}
    for h in hops:
        out_hops.setdefault(h.provider, []).append(h)
    holders = list(dict.fromkeys(h.provider for h in hops if h.provider_role == HOLDER))
    paths: list[list[Hop]] = []

    def walk(node: str, visited: set[str], path: list[Hop]) -> None:
        if node == lessee:
            paths.append(list(path))
            return
        for h in out_hops.get(node, ()):
            if h.recipient not in visited:
                visited.add(h.recipient)
                path.append(h)
                walk(h.recipient, visited, path)
                path.pop()
                visited.discard(h.recipient)

    for holder in holders:
        walk(holder, {holder}, [])
    return paths


def brute_force_block(hops: Sequence[Hop]) -> BruteForceAnswer:
    """The reference answer for one block whose rows name exactly one lessee."""
    lessees = {h.recipient for h in hops if h.recipient_role == LESSEE}
    (lessee,) = lessees
    if not lessee_reachable(hops, lessee):
        return BruteForceAnswer(False, frozenset(), None, None, None)
    paths = all_paths(hops, lessee)
    return BruteForceAnswer(
        reachable=True,
        spofs=brute_force_spofs(hops, lessee),
        depth_min=min(len(p) for p in paths),
        depth_max=max(len(p) for p in paths),
        secured_until=max(min(h.end_date for h in p) for p in paths),
    )
