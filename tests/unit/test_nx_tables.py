"""The embedded store's fact tables (graph/stores/nx_tables.py): VRPs and BGP routes held as rows
give exactly the nodes and relationships networkx nodes gave, on apply, on load and from a graph.db
that holds them as networkx nodes (what earlier versions wrote)."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from graph_events import mixed_events, origin, prov, vrp

from chainrisk.graph.stores import nx_persist
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.nx_tables import FactTable, new_tables
from chainrisk.graph.stores.records import FACT_LABEL, TABLE_LINKS, fact_props, link_targets, table_asns
from chainrisk.ingest.events import RouteOrigin

ROUTE_KEY = "route_origin|240.1.0.0/16"


def test_a_table_row_s_links_are_the_event_s() -> None:
    events = [vrp("240.1.0.0/24", 64500), origin("240.1.0.0/16", 64502, 64500, 64502),
              RouteOrigin(block="240.2.0.0/16", origins=(), as_sets=("64500,64501",), provenance=prov(0, "pfx2as")).with_id()]
    for event in events:
        label = FACT_LABEL[event.type]
        rel, _ = TABLE_LINKS[label]
        assert table_asns(label, fact_props(event)) == link_targets(event)[rel]


def test_a_row_gives_back_the_properties_it_was_given() -> None:
    table = FactTable("BgpRoute")
    event = origin("240.1.0.0/16", 64502, 64500)
    props = {"labels": ("BgpRoute",), **fact_props(event)}
    table.put(event.fact_key, props)
    assert table.get(event.fact_key) == props and list(table.get(event.fact_key) or {}) == list(props)
    assert list(table.edges()) == [(event.fact_key, 64500), (event.fact_key, 64502)]
    with pytest.raises(ValueError, match="no property 'asn'"):
        table.put(event.fact_key, {**props, "asn": 1})
    with pytest.raises(ValueError, match="labels"):
        table.put(event.fact_key, {**props, "labels": ("BgpRoute", "Other")})


def test_rows_share_equal_origin_lists() -> None:
    table = FactTable("BgpRoute")
    for block in ("240.1.0.0/24", "240.1.1.0/24"):
        event = origin(block, 64500)
        table.put(event.fact_key, fact_props(event))
    first, second = table.rows.values()
    assert first[table.names.index("origins")] is second[table.names.index("origins")]


def test_vrps_and_routes_live_in_the_tables_and_read_as_nodes(tmp_path: Path) -> None:
    s = NxStore(tmp_path / "s", save_interval_s=3600)
    s.apply_batch(mixed_events(5), {}, "g")
    assert not [n for n in s.g if n[0] in TABLE_LINKS]
    route = s.node_data(("BgpRoute", ROUTE_KEY))
    assert route is not None and route["origins"] == [64502] and route["fact_key"] == ROUTE_KEY
    assert [(u, v) for u, v, d in s.edge_items() if d["type"] == "ORIGINATED_BY"] == [(("BgpRoute", ROUTE_KEY), ("AS", 64502))]
    assert s.facts_at("240.1.0.0/16") and ("BgpRoute", ROUTE_KEY) in s.facts_at("240.1.0.0/16")
    assert s.load_portfolio().origins["240.1.0.0/16"] == (64502,)
    s.close()


def test_a_graph_file_with_vrps_and_routes_as_networkx_nodes_loads_to_the_same_graph(tmp_path: Path) -> None:
    built = NxStore(tmp_path / "built", save_interval_s=3600)
    built.apply_batch(mixed_events(7), {("t", 0): 9}, "g")
    dump = built.canonical_dump()
    # the graph as earlier versions held and wrote it: every node and relationship in networkx
    g: nx.MultiDiGraph = built.g.copy()
    for node, data in built.node_items():
        if node[0] in TABLE_LINKS:
            g.add_node(node, **data)
    for u, v, data in built.edge_items():
        if u[0] in TABLE_LINKS:
            g.add_edge(u, v, key=data["type"], **data)
    built.close()
    folder = tmp_path / "old" / "graph"
    folder.mkdir(parents=True)
    conn = nx_persist.open_db(folder)
    nx_persist.write_snapshot(conn, g, new_tables(), {"g": {("t", 0): 9}}, {}, {})
    conn.close()
    loaded = NxStore(tmp_path / "old")
    assert loaded.canonical_dump() == dump and not [n for n in loaded.g if n[0] in TABLE_LINKS]
    assert loaded.stored_offsets("g") == {("t", 0): 9}
    loaded.apply_batch([origin("240.1.0.0/16", 64503, observed=8)], {}, "g")  # an update of a loaded row
    assert loaded.node_data(("BgpRoute", ROUTE_KEY))["origins"] == [64503]  # type: ignore[index]
    loaded.close()
    assert NxStore(tmp_path / "old").node_data(("BgpRoute", ROUTE_KEY))["origins"] == [64503]  # type: ignore[index]


def test_a_loaded_row_shares_repeated_values(tmp_path: Path) -> None:
    built = NxStore(tmp_path / "s", save_interval_s=3600)
    built.apply_batch([origin(f"240.1.{i}.0/24", 64500) for i in range(3)], {}, "g")
    built.close()
    loaded = NxStore(tmp_path / "s")
    rows = list(loaded.tables["BgpRoute"].rows.values())
    names = loaded.tables["BgpRoute"].names
    for name in ("source", "observed_at", "origins"):
        assert len({id(row[names.index(name)]) for row in rows}) == 1, name
