"""The routing-path signals through the real Kafka and Neo4j: the files of tests/routing_path_files.py
ingested with the project's workers, consumed into Neo4j, analysed - the same portfolio, the same
risk flags and the same routing-path fields as the embedded backend gives for the same files, and a
second ingest of every file (a replay with new snapshot ids) changes nothing.

Run under ``flock /tmp/chainrisk-neo4j.lock`` (one shared Neo4j database). SYNTHETIC DATA."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from routing_path_files import EXPECTED_CODES, new_codes, write_files

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.graph.backend import open_sink
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import ConsumerOptions, consume
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
AS_OF = date(2026, 6, 1)
FIELDS = ("risk_flags", "risk_score", "bgp_observed_at", "lease_end", "announced_after_lease_end", "asn_listings", "as_paths",
          "upstream_asns", "aspa_providers", "aspa_unauthorised", "aspa_invalid_hops")


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    return isolated_services("routing-paths", alerts=False)


def ingest(settings: Settings, files: list[tuple[str, Path]]) -> None:
    from chainrisk.ingest.common import run_ingest

    sink = open_sink(settings)
    try:
        for worker, path in files:
            module = importlib.import_module(f"chainrisk.ingest.{worker}")
            summary = run_ingest(module.parse, [path], sink, snapshot=getattr(module, "SNAPSHOT", False))
            assert summary.rejects == 0 and not summary.files_failed, (worker, summary)
    finally:
        sink.close()


def results(portfolio: Any) -> dict[str, dict[str, Any]]:
    return {r.block: {k: v for k, v in r.as_dict().items() if k in FIELDS} for r in analyse_portfolio(portfolio, AS_OF).blocks}


def test_both_backends_give_the_same_signals(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    files = write_files(tmp_path / "files")
    ingest(settings, files)
    consume(settings, options=ConsumerOptions(group=settings.consumer_group, batch_size=3, until_idle=True))
    services_portfolio = neo.load_portfolio()

    embedded = settings.model_copy(update={"backend": "embedded", "state_dir": tmp_path / "state"})
    ingest(embedded, files)
    consume(embedded, options=ConsumerOptions(group="embedded", batch_size=3, until_idle=True))
    store = NxStore(tmp_path / "state", save_interval_s=3600)
    try:
        embedded_portfolio = store.load_portfolio()
    finally:
        store.close()

    assert services_portfolio == embedded_portfolio
    assert len(services_portfolio.as_paths) == 3 and len(services_portfolio.aspas) == 3 and len(services_portfolio.asn_listings) == 2
    by_block = results(services_portfolio)
    assert by_block == results(embedded_portfolio)
    assert {block: new_codes(r["risk_flags"]) for block, r in by_block.items()} == EXPECTED_CODES

    ingest(settings, files)  # every file again
    consume(settings, options=ConsumerOptions(group=settings.consumer_group, batch_size=5, until_idle=True))
    assert neo.load_portfolio() == services_portfolio
