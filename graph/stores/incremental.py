"""The part of ``GraphStore.refresh_analysis`` both stores share: from the candidates' input and
the analysis of it, the rows to write for just those blocks and their results before and after."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date
from typing import Any

from chainrisk.analysis.writeback import ROW_NAMES, SPOFS, rows_by_block
from chainrisk.common.prefixes import ints_to_prefix, prefix_ints
from chainrisk.graph.stores.protocol import AnalysisCompute, AnalysisInput, AnalysisRefresh
from chainrisk.graph.stores.writeback_plan import UNCOMPARED, WriteBackPlan, plan_write_back


def refresh_plan(given: AnalysisInput, compute: AnalysisCompute) -> tuple[WriteBackPlan, AnalysisRefresh]:
    """The write-back plan for the candidates of ``given`` (rows of other blocks dropped; a
    candidate with stored results and no row is cleared) and what the refresh reports."""
    block_rows, spof_rows = compute(given)
    wanted = set(given.blocks)
    block_rows = [row for row in block_rows if row["prefix"] in wanted]
    spof_rows = [row for row in spof_rows if row["block"] in wanted]
    plan = plan_write_back(block_rows, spof_rows, given.digests)
    if not block_rows:  # only clears: clear every property a row can have
        plan.keys = [k for k in ROW_NAMES if k not in UNCOMPARED] + [k for k in ROW_NAMES if k in UNCOMPARED]
    refresh = AnalysisRefresh(list(given.blocks), given.stored, rows_by_block(block_rows, spof_rows),
                              len(plan.writes), len(plan.clears))
    return plan, refresh


def stored_row(prefix: str, props: dict[str, Any], spofs: list[tuple[int, str]]) -> dict[str, Any]:
    """A block's stored results in ``writeback.rows_by_block`` form, from its properties (temporal
    values already native) and its SPOF_FOR as ``(position, party key)``."""
    row: dict[str, Any] = {"prefix": prefix, **{name: props.get(name) for name in ROW_NAMES}}
    row[SPOFS] = [party for _, party in sorted(spofs)]
    return row


def holds_block_results(props: dict[str, Any]) -> bool:
    """Whether a Block's properties carry a leased block's analysis results (every block row sets
    ``analysis_basis``; a holding's idle-space results alone do not count: they are the full
    analysis' own, ``chainrisk analyze``)."""
    return props.get("analysis_basis") is not None


def analysed_on(as_of: date | None, analysed_at: str | None) -> date | None:
    """The day a block's stored figures were judged against: its ``analysed_as_of``, else the
    date of its ``analysed_at`` (results written before the reference date was)."""
    if as_of is not None:
        return as_of
    return date.fromisoformat(analysed_at[:10]) if analysed_at else None


ALL_LENGTHS = range(33)


def covering_at_lengths(blocks: Iterable[str], lengths: Callable[[str], Collection[int] | None]) -> set[str]:
    """The prefixes equal to or covering one of ``blocks`` whose length is among ``lengths(block)``
    (None: any length): where a store looks for the facts that cover a block, when it knows which
    prefix lengths its facts have (``analysis.affected.covering_prefixes`` cut to those)."""
    out: set[str] = set()
    for block in blocks:
        first, length = prefix_ints(block)
        present = lengths(block)
        for n in ALL_LENGTHS if present is None else present:
            if n <= length:
                out.add(ints_to_prefix(first & ~((1 << (32 - n)) - 1) & 0xFFFFFFFF, n))
    return out
