"""The full analysis over several processes: leased blocks are independent, so after the part that
looks across blocks (:func:`~chainrisk.analysis.blocks.prepare_portfolio`: indexes, nesting) their
range is cut into contiguous shares (:func:`~chainrisk.analysis.blocks.partition`). This process
analyses the first share; one forked child per other share analyses its own and sends the results
back in chunks, in the compact form of :func:`~chainrisk.analysis.blocks.share_values`; the shares
are merged in block order (:func:`~chainrisk.analysis.blocks.merge_shares`). The results are those
of one process (tests/unit/test_analysis_pool.py).

The children are forked, not spawned: they inherit the prepared portfolio (a million blocks hold
~2 GB of small objects) copy-on-write instead of unpickling it. ``gc.freeze()`` before the fork
keeps a garbage collection in a child from writing to every inherited object (and so copying
its page); a child still copies the pages of the objects it reads, since reading changes their
reference counts. A child's results travel as pickled chunks of :data:`CHUNK_BLOCKS` blocks, read
by a thread of this process while it analyses its own share, so neither side waits for a pipe.

Small portfolios stay in one process (:func:`processes_for`): below :data:`MIN_SHARE_BLOCKS`
blocks per process, forking and sending the results back cost more than the second core gives.
"""
from __future__ import annotations

import gc
import multiprocessing
import pickle
import threading
import traceback
from datetime import date, timedelta
from multiprocessing.connection import Connection
from typing import Any

from chainrisk.analysis.blocks import (
    BlockResult,
    PortfolioAnalysis,
    PreparedPortfolio,
    analyse_share,
    merge_shares,
    partition,
    prepare_portfolio,
    share_results,
    share_values,
)
from chainrisk.analysis.model import Portfolio
from chainrisk.analysis.routing_proof import ROA_LAPSE_HORIZON

# fewest blocks worth a process of their own: ~25,000 blocks are ~2 s of analysis on one core, against
# ~0.1 s to fork a process holding a large portfolio and send its results back
MIN_SHARE_BLOCKS = 25_000
# this process's share against a child's: it also decodes every child's results, merges them and
# hands them on (decoding a block costs about a fifth of analysing it, exposure and merging more); at 0.5
# the two processes' CPU seconds came out even at 200,000 blocks (bench/RESULTS.md)
OWN_SHARE_WEIGHT = 0.5
# blocks per message from a child: a few MB pickled, so neither side holds a whole share's bytes at once
CHUNK_BLOCKS = 20_000


def processes_for(blocks: int, processes: int) -> int:
    """How many processes analyse ``blocks`` leased blocks when ``processes`` may: no more than
    give each :data:`MIN_SHARE_BLOCKS` blocks, and at least one."""
    return max(1, min(processes, blocks // MIN_SHARE_BLOCKS))


class AnalysisWorkerError(RuntimeError):
    """A child analysing a share failed or ended before sending all of its results."""


def analyse_portfolio_parallel(portfolio: Portfolio, as_of: date, roa_lapse_horizon: timedelta = ROA_LAPSE_HORIZON,
                               processes: int = 1) -> PortfolioAnalysis:
    """:func:`~chainrisk.analysis.blocks.analyse_portfolio` with the blocks spread over up to
    ``processes`` processes (this one included; see :func:`processes_for`). Same results."""
    prepared = prepare_portfolio(portfolio, as_of, roa_lapse_horizon)
    count = len(prepared.located)
    workers = processes_for(count, processes)
    ranges = partition(count, [OWN_SHARE_WEIGHT] + [1.0] * (workers - 1))
    if len(ranges) <= 1:  # one process (or no leased block at all)
        return merge_shares(prepared, [analyse_share(prepared, 0, count)])
    context = multiprocessing.get_context("fork")
    already_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    children: list[_Child] = []
    try:
        for start, stop in ranges[1:]:
            children.append(_Child(context, prepared, start, stop))
        shares = [analyse_share(prepared, *ranges[0])]
        for child in children:
            shares.append(child.results(prepared))
    finally:
        for child in children:
            child.stop()
        if not already_frozen:
            gc.unfreeze()
    return merge_shares(prepared, shares)


class _Child:
    """One forked process analysing ``prepared.located[start:stop]``, and the thread reading what it sends."""

    def __init__(self, context: Any, prepared: PreparedPortfolio, start: int, stop: int) -> None:
        self.start, self.stop_at = start, stop
        receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_analyse_in_child, args=(prepared, start, stop, sender),
                                       name=f"chainrisk-analysis-{start}", daemon=True)
        self.process.start()
        sender.close()  # the child holds the only writing end: its exit ends the reader's loop
        self.receiver: Connection = receiver
        self.messages: list[bytes] = []
        self.reader = threading.Thread(target=self._read, name=f"chainrisk-analysis-reader-{start}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while True:
                self.messages.append(self.receiver.recv_bytes())
        except (EOFError, OSError):
            return

    def results(self, prepared: PreparedPortfolio) -> list[BlockResult]:
        """The share's results, once the child has sent them all."""
        self.reader.join()
        self.process.join()
        results: list[BlockResult] = []
        expected = self.start
        messages, self.messages = self.messages, []
        for n, raw in enumerate(messages):
            messages[n] = b""  # each chunk's bytes go once decoded
            start, payload = pickle.loads(raw)
            if start == "error":
                raise AnalysisWorkerError(f"analysing blocks {self.start:,}-{self.stop_at - 1:,} failed in process "
                                          f"{self.process.pid}:\n{payload}")
            if start != expected:
                raise AnalysisWorkerError(f"process {self.process.pid} sent the results from block {start:,} on, "
                                          f"expected block {expected:,}")
            results.extend(share_results(prepared, start, payload))
            expected += len(payload)
        if expected != self.stop_at:
            raise AnalysisWorkerError(f"process {self.process.pid} analysing blocks {self.start:,}-{self.stop_at - 1:,} ended "
                                      f"(exit code {self.process.exitcode}) after sending {expected - self.start:,} of "
                                      f"{self.stop_at - self.start:,} results")
        return results

    def stop(self) -> None:
        """End the child if it still runs (this process failed first), and release the pipe."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.reader.join()  # the child's end is closed now: the reader has met the end of the pipe
        self.receiver.close()


def _analyse_in_child(prepared: PreparedPortfolio, start: int, stop: int, sender: Connection) -> None:
    """In the forked child: analyse the share chunk by chunk, sending ``(first block, rows)`` per
    chunk, or ``("error", traceback)`` and stop."""
    try:
        for first in range(start, stop, CHUNK_BLOCKS):
            rows = share_values(analyse_share(prepared, first, min(first + CHUNK_BLOCKS, stop)))
            sender.send_bytes(pickle.dumps((first, rows), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # noqa: BLE001 - whatever went wrong, the parent reports it with the child's traceback
        sender.send_bytes(pickle.dumps(("error", traceback.format_exc())))
    finally:
        sender.close()
