"""The bulk first load: an empty Neo4j built from the whole event log with ``neo4j-admin database import``.

Streaming applies every batch in Neo4j transactions; for a first load of a long history that is
the slow part. The bulk load instead

1. folds every record of the ingest topics (Kafka, or the embedded log) into an in-memory
   embedded store with the consumer loop itself (graph/consumer.py ``run_consumer``: the same
   decoding and dead letters, fact decisions, containment, role labels, holder history and snapshot
   sweeps as streaming; the embedded and Neo4j stores give the same graph, tested), in big batches
   (the facts do not depend on the batch size; a Snapshot node's added/changed/unchanged counts
   do, as they do when streaming);
2. writes that graph, the group's offsets and snapshot progress and the per-/8 block-lock nodes as
   CSV files (graph/stores/neo4j_import.py);
3. stops the Neo4j of the state folder (``chainrisk services up``'s), replaces its database with
   ``neo4j-admin database import full`` (Community Edition imports offline only), starts it again;
4. creates the schema the store creates at start and checks the node and relationship counts.

The stored offsets are those of the last record folded per partition, so ``chainrisk consume``
continues exactly where the load ended. No alerts are raised for the loaded history (it is the
baseline; the consumer's alerts start with what arrives next). The target must be empty (no node
at all) unless ``force``: the import replaces the whole database.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import ConsumerOptions, ConsumerStats, run_consumer
from chainrisk.graph.eventlog.sources import DeadLetters, RecordSource
from chainrisk.graph.services import runner
from chainrisk.graph.stores.neo4j_import import ARRAY_DELIMITER_ARG, ImportFiles, machinery_nodes, write_import_files
from chainrisk.graph.stores.protocol import GraphStore

log = logging.getLogger("chainrisk.bulk")

FOLD_BATCH = 20_000  # records per fold batch: the facts are the same for any size, bigger batches cost less per record
SOURCES = ("topics", "log")


class BulkLoadError(Exception):
    """The bulk load cannot run (the message says why and what to do); the target is unchanged."""


@dataclass
class LoadStats:
    consumed: ConsumerStats
    nodes: int = 0
    relationships: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> seconds: fold, files, import, schema

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def summary(self) -> str:
        c = self.consumed
        rate = c.records / self.total_s if self.total_s > 0 else 0.0
        stages = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        return (f"{c.records:,} records in {self.total_s:.1f} s ({rate:,.0f}/s; {stages}): applied {c.applied:,}, retracted "
                f"{c.retracted:,}, stale {c.stale:,}, duplicate {c.duplicate:,}, dead-lettered {c.dead_lettered:,}; "
                f"Neo4j now holds {self.nodes:,} nodes and {self.relationships:,} relationships")


def _open_source(settings: Settings, source: str, store: GraphStore, group: str, batch_size: int,
                 options: ConsumerOptions) -> tuple[RecordSource, DeadLetters]:
    from chainrisk.graph.backend import open_records
    from chainrisk.graph.consumer import with_retries

    backend = "services" if source == "topics" else "embedded"
    return open_records(settings.model_copy(update={"backend": backend}), store, group, batch_size,
                        retry=lambda action, what: with_retries(action, what, options))


def bulk_load(settings: Settings, *, source: str = "topics", force: bool = False, batch_size: int = FOLD_BATCH,
              wait_timeout_s: float = 120.0, progress: runner.Progress = runner.stderr_progress) -> LoadStats:
    """Build the (empty) Neo4j of ``settings`` from every record of ``source`` (``topics``: Kafka;
    ``log``: the embedded log under the state folder); see the module's description."""
    from chainrisk.graph.stores.neo4j_store import NeoStore
    from chainrisk.graph.stores.nx_store import NxStore

    if source not in SOURCES:
        raise BulkLoadError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
    settings = runner.absolute_settings(settings)
    if not runner.neo4j_running(settings):
        raise BulkLoadError(f"the bulk load imports into the Neo4j that `chainrisk services up` runs from {settings.state_dir} "
                            f"(it stops and restarts it), and none runs there: start it with `chainrisk services up`")
    target = NeoStore(settings)
    try:
        nodes, rels = target.graph_size()
    finally:
        target.close()
    if (nodes or rels) and not force:
        raise BulkLoadError(f"Neo4j database {settings.neo4j_database!r} is not empty ({nodes:,} nodes, {rels:,} relationships): "
                            f"the bulk load is for a first load; use `chainrisk consume` to add to it, or --force to replace it")
    group = settings.consumer_group
    stats = LoadStats(ConsumerStats())
    work = Path(tempfile.mkdtemp(prefix="bulk-load-", dir=settings.state_dir))
    try:
        started = time.monotonic()
        options = ConsumerOptions(group=group, batch_size=batch_size, until_idle=True, wait_timeout_s=wait_timeout_s,
                                  metrics_interval_s=30.0)
        fold = NxStore(work / "fold", persist=False)
        try:
            fold.ensure_schema()
            records, dead = _open_source(settings, source, fold, group, batch_size, options)
            try:
                progress(f"folding every record of the {'Kafka topics' if source == 'topics' else 'embedded log'} in memory")
                stats.consumed = run_consumer(fold, records, dead, options)
            finally:
                records.close()
                close_dead = getattr(dead, "close", None)
                if close_dead is not None:
                    close_dead()
            stats.seconds["fold"] = time.monotonic() - started
            started = time.monotonic()
            blocks = ((d["first"], d["last"], d["prefix_length"]) for n, d in fold.g.nodes(data=True) if n[0] == "Block")
            extra = machinery_nodes(group, fold.stored_offsets(group), fold.snapshot_progress.get(group, {}), blocks)
            files = write_import_files(fold, work / "csv", extra)
        finally:
            fold.close()
        del fold
        stats.seconds["files"] = time.monotonic() - started
        progress(f"wrote {files.node_count:,} nodes and {files.relationship_count:,} relationships as CSV in {stats.seconds['files']:.1f} s")
        started = time.monotonic()
        replace_database(settings, files, progress)
        stats.seconds["import"] = time.monotonic() - started
        started = time.monotonic()
        target = NeoStore(settings)
        try:
            # counted before the schema: ensure_schema adds the per-label prefix-length nodes the files lack
            stats.nodes, stats.relationships = target.graph_size()
            target.ensure_schema()
        finally:
            target.close()
        stats.seconds["schema"] = time.monotonic() - started
        if (stats.nodes, stats.relationships) != (files.node_count, files.relationship_count):
            raise BulkLoadError(f"Neo4j holds {stats.nodes:,} nodes and {stats.relationships:,} relationships after the import, "
                                f"not the {files.node_count:,} and {files.relationship_count:,} written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return stats


def replace_database(settings: Settings, files: ImportFiles, progress: runner.Progress) -> None:
    """Stop Neo4j, import ``files`` into its database, start it again (also when the import failed:
    the tool leaves the old database when it fails before writing)."""
    runner.down(settings, progress, only=(runner.NEO4J,))
    try:
        output = runner.import_database(settings, settings.neo4j_database, files.nodes, files.relationships,
                                        ["--id-type=integer", f"--array-delimiter={ARRAY_DELIMITER_ARG}", "--multiline-fields=true",
                                         "--threads=2"], progress)
        log.debug("neo4j-admin: %s", output)
    finally:
        runner.up(settings, progress, only=(runner.NEO4J,))
