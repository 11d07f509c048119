"""Every library query against the real Neo4j, loaded with the hand-made risk graph
(tests/risk_graph.py) through the project's own store and analysis write-back.

Each query's rows are compared in full with what the fixture implies; the Browser deep-link form
of each query (values inlined as literals) must give exactly the same rows as the parameterised run.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from risk_graph import AS_OF, BLOCK_A, BLOCK_B, BLOCK_C, BLOCK_D, load_risk_graph

from chainrisk.common.formats import cell_text
from chainrisk.graph.browser.deeplinks import cypher_literal, inline_parameters
from chainrisk.graph.browser.library import bind_parameters, load_library, plain_value, run_query
from chainrisk.graph.config import Settings

pytestmark = pytest.mark.services

GRAPH_COLUMNS = {"chain", "chains", "cut", "impact"}  # graph elements: compared by their captions

# query name -> [(command-line parameters, expected rows)], rows as lists in column order
EXPECTED: dict[str, list[tuple[dict[str, str], list[list[Any]]]]] = {
    "find-block": [
        ({"text": "198.18"}, [
            [BLOCK_B, "Beta Cloud", 2, 2, 1, "2027-12-31", False, 125],
            [BLOCK_A, "Acme Hosting", 2, 2, 2, "2026-06-30", True, 55],
        ]),
        ({"text": "BETA"}, [[BLOCK_B, "Beta Cloud", 2, 2, 1, "2027-12-31", False, 125]]),
        ({"text": "10."}, []),
    ],
    "block-chain": [
        ({"prefix": BLOCK_A}, [
            ["Northwind Holdings -> LeaseCo", "Northwind Holdings", "holder", "LeaseCo", "upstream", "2024-01-01", "2026-06-30", None],
            ["LeaseCo -> Acme Hosting", "LeaseCo", "upstream", "Acme Hosting", "lessee", "2025-01-01", "2027-06-30", 64501],
        ]),
        ({"prefix": BLOCK_B}, [
            ["Northwind Holdings -> BrokerX", "Northwind Holdings", "holder", "BrokerX", "broker", "2024-01-01", "2027-12-31", None],
            ["Northwind Holdings -> LeaseCo", "Northwind Holdings", "holder", "LeaseCo", "upstream", "2024-01-01", "2027-12-31", None],
            ["BrokerX -> Beta Cloud", "BrokerX", "broker", "Beta Cloud", "lessee", "2025-01-01", "2026-12-31", 64502],
            ["LeaseCo -> Beta Cloud", "LeaseCo", "upstream", "Beta Cloud", "lessee", "2025-01-01", "2027-12-31", 64502],
        ]),
        ({"prefix": "198.18.0.0/16"}, []),  # a registry block, leased to no one
    ],
    "lessee-blocks": [
        ({"lessee": " acme hosting "}, [
            [BLOCK_A, 2, 2, 2, 2, "2026-06-30", "Northwind Holdings -> LeaseCo | LeaseCo -> Acme Hosting"],
            [BLOCK_C, 1, 1, 1, 1, "2026-12-31", "Resale Ltd -> Acme Hosting"],
        ]),
        ({"lessee": "LeaseCo"}, []),  # an upstream, lessee of nothing
    ],
    "block-spofs": [
        ({"prefix": BLOCK_A}, [
            [BLOCK_A, 0, "Northwind Holdings", ["holder"], ["LeaseCo"], f"Northwind Holdings -> {BLOCK_A}"],
            [BLOCK_A, 1, "LeaseCo", ["upstream"], ["Acme Hosting"], f"LeaseCo -> {BLOCK_A}"],
        ]),
        # two paths (via LeaseCo and via BrokerX): only the holder is on both
        ({"prefix": BLOCK_B}, [[BLOCK_B, 0, "Northwind Holdings", ["holder"], ["BrokerX", "LeaseCo"],
                                 f"Northwind Holdings -> {BLOCK_B}"]]),
    ],
    "top-exposure": [
        ({}, [
            ["Northwind Holdings", 2, 512, 2, 0.5, ["Acme Hosting", "Beta Cloud"]],
            ["Harbor Holdings", 1, 256, 1, 0.25, ["Old Tenant"]],
            ["LeaseCo", 1, 256, 1, 0.25, ["Acme Hosting"]],
            ["Resale Ltd", 1, 256, 1, 0.25, ["Acme Hosting"]],
        ]),
        ({"limit": "1"}, [["Northwind Holdings", 2, 512, 2, 0.5, ["Acme Hosting", "Beta Cloud"]]]),
    ],
    "party-dependents": [
        ({"party": "Northwind Holdings"}, [
            [BLOCK_A, "Acme Hosting", "lease chain", ["holder"], True, 256],
            [BLOCK_A, "Acme Hosting", "registry holder of 198.18.0.0/16", [], True, 256],
            [BLOCK_B, "Beta Cloud", "lease chain", ["holder"], True, 256],
            [BLOCK_B, "Beta Cloud", "registry holder of 198.18.0.0/16", [], True, 256],
        ]),
        ({"party": "leaseco"}, [
            [BLOCK_A, "Acme Hosting", "lease chain", ["upstream"], True, 256],
            [BLOCK_B, "Beta Cloud", "lease chain", ["upstream"], False, 256],
        ]),
        # registry holder of 203.0.113.0/24 (twice: registration org ORG-SG1-RIPE and transfer recipient by
        # name), though not the contract source: one row
        ({"party": "Southgate Networks"}, [[BLOCK_C, "Acme Hosting", "registry holder of 203.0.113.0/24", [], False, 256]]),
    ],
    "renewal-gaps": [
        ({"as_of": AS_OF.isoformat(), "days": "90"}, [[BLOCK_A, "LeaseCo", "2026-06-30", "Acme Hosting", "2027-06-30", 29]]),
        ({"as_of": AS_OF.isoformat(), "days": "28"}, []),  # LeaseCo's supply ends in 29 days
        ({"as_of": "2027-07-01", "days": "30"}, []),  # the contract to Acme has ended too
    ],
    "not-routing-ready": [
        ({}, [
            [BLOCK_B, "Beta Cloud", [64502], "Invalid", "asn-mismatch", False, True],
            [BLOCK_D, "Old Tenant", [64503], "NotFound", None, False, True],
            [BLOCK_C, "Acme Hosting", [64501], "NotFound", None, True, False],  # its route object is in RADB
        ]),
    ],
    "risk-flag": [
        ({"code": "roa-lapsing"}, [[BLOCK_A, "Acme Hosting", 55,
                                    "roa-lapsing: every VRP making AS64501 Valid expires by 2026-05-30T12:00:00+00:00, soon after its "
                                    "export was built: 198.18.1.0/24-24 AS64501 (ripe)"]]),
        ({"code": "as0-covered"}, [[BLOCK_B, "Beta Cloud", 125,
                                    "as0-covered: 198.18.2.0/23-32 AS0 (ripe) covers the block: its holder asks that it not be routed "
                                    "(RFC 6483, RFC 7607)"]]),
        ({"code": "as-set-origin"}, [[BLOCK_C, "Acme Hosting", 60,
                                      "as-set-origin: announced with an AS_SET origin, which is origin NONE (RFC 6811): 203.0.113.0/24 "
                                      "{64501,64999}"]]),
        ({"code": "irr-nonauthoritative"}, [[BLOCK_C, "Acme Hosting", 60,
                                             "irr-nonauthoritative: the route object for AS64501 is only in RADB, not in the RIPE IRR of "
                                             "the space's registry"]]),
        # no false flags: nothing in the risk graph is loose, issued by a non-functional CA or a prefix of a code
        ({"code": "roa-loose-maxlength"}, []),
        ({"code": "ca-nonfunctional"}, []),
        ({"code": "roa"}, []),
        ({"code": "intermediary-spof"}, [[BLOCK_A, "Acme Hosting", 55, "intermediary-spof: LeaseCo"]]),
    ],
    "idle-space": [
        # Northwind's /16 less blocks A and B; 198.18.3.0/24 has an AS0 ROA and no route: clean, not listed
        ({}, [["198.18.0.0/16", 140, f"{idle}: idle-space-announced: Northwind Holdings holds it unleased; no AS0 ROA covers it"]
              for idle in sorted(["198.18.0.0/24", "198.18.4.0/22", "198.18.8.0/21", "198.18.16.0/20", "198.18.32.0/19",
                                  "198.18.64.0/18", "198.18.128.0/17"])]),
    ],
    # block D's lease ended on 2026-03-31; the pfx2as data of 2026-05-30 still shows its lessee's ASN
    "announced-after-lease-end": [
        ({}, [[BLOCK_D, "Old Tenant", [64503], "2026-03-31", "2026-05-30T00:00:00+00:00", [BLOCK_D]]]),
    ],
    "asn-blocklisted": [
        ({}, [[BLOCK_D, "Old Tenant", 64503, "lessee", "spamhaus-asndrop", "OLD-TENANT-AS"]]),
    ],
    # block A's lessee is routed via AS64510, which its ASPA names: not listed
    "aspa-unauthorised-upstreams": [
        ({}, [[BLOCK_D, "Old Tenant", 64503, [64510], [64511], [[64999, 64511, 64503, 64503]]]]),
    ],
    "reputation-issues": [
        ({}, [
            [BLOCK_B, "Beta Cloud", ["spamhaus-drop SBL000001 198.18.2.0/23"], True],
            [BLOCK_C, "Acme Hosting", [], False],
        ]),
    ],
    "source-clarity": [
        ({}, [[BLOCK_C, "Acme Hosting", ["Resale Ltd"], ["Southgate Networks (203.0.113.0/24)"]]]),
    ],
    "holder-changes": [
        ({"since": "2026-01-01"}, [
            ["198.18.0.0/16", "2026-04-01T00:00:00+00:00", "delegation", "RIPENCC holder nw-0001", "RIPENCC holder ew-0002",
             BLOCK_A, "Acme Hosting", "2024-01-01"],
            ["198.18.0.0/16", "2026-04-01T00:00:00+00:00", "delegation", "RIPENCC holder nw-0001", "RIPENCC holder ew-0002",
             BLOCK_B, "Beta Cloud", "2024-01-01"],
            [BLOCK_C, "2026-03-01T00:00:00+00:00", "transfer", "Old Holder Inc", "Southgate Networks", BLOCK_C, "Acme Hosting",
             "2025-01-01"],
        ]),
        ({"since": "2026-03-02"}, [
            ["198.18.0.0/16", "2026-04-01T00:00:00+00:00", "delegation", "RIPENCC holder nw-0001", "RIPENCC holder ew-0002",
             BLOCK_A, "Acme Hosting", "2024-01-01"],
            ["198.18.0.0/16", "2026-04-01T00:00:00+00:00", "delegation", "RIPENCC holder nw-0001", "RIPENCC holder ew-0002",
             BLOCK_B, "Beta Cloud", "2024-01-01"],
        ]),
    ],
    "holdings-history": [
        ({"prefix": BLOCK_A, "on_date": "2025-06-30"}, [
            ["198.18.0.0/16", "RIPENCC holder nw-0001", "delegation", "2025-01-10T00:00:00+00:00", "2026-04-01T00:00:00+00:00", True],
            ["198.18.0.0/16", "RIPENCC holder ew-0002", "delegation", "2026-04-01T00:00:00+00:00", None, False],
            ["198.18.0.0/16", "Northwind Holdings", "registration", "2025-01-15T00:00:00+00:00", None, True],
        ]),
        ({"prefix": BLOCK_C, "on_date": "2026-02-15"}, [
            [BLOCK_C, "Southgate Networks", "registration", "2026-05-01T00:00:00+00:00", None, False],
            [BLOCK_C, "Old Holder Inc", "transfer", None, "2026-03-01T00:00:00+00:00", True],
            [BLOCK_C, "Southgate Networks", "transfer", "2026-03-01T00:00:00+00:00", None, False],
        ]),
        ({"prefix": BLOCK_C, "on_date": "2026-03-01"}, [  # the transfer day: the new holder already
            [BLOCK_C, "Southgate Networks", "registration", "2026-05-01T00:00:00+00:00", None, False],
            [BLOCK_C, "Old Holder Inc", "transfer", None, "2026-03-01T00:00:00+00:00", False],
            [BLOCK_C, "Southgate Networks", "transfer", "2026-03-01T00:00:00+00:00", None, True],
        ]),
    ],
    "alerts": [
        ({"status": "resolved"}, []),  # the open ones: test_open_alerts_with_their_blast_radius
    ],
    # the alerts since earlier days, by type: test_changes_since_and_alerts_by_type (risk changes:
    # tests/integration/test_risk_alerts_services.py)
    "changes-since": [({"since": "2026-04-02"}, [])],
    "alerts-by-type": [({"status": "resolved"}, [])],
    "block-freshness": [
        ({"before": "2026-12-31"}, [  # written back once, at INGESTED, judged as of AS_OF
            [BLOCK_A, "Acme Hosting", "2026-06-01T12:00:00+00:00", "2026-06-01", 55],
            [BLOCK_B, "Beta Cloud", "2026-06-01T12:00:00+00:00", "2026-06-01", 125],
            [BLOCK_D, "Old Tenant", "2026-06-01T12:00:00+00:00", "2026-06-01", 145],
            [BLOCK_C, "Acme Hosting", "2026-06-01T12:00:00+00:00", "2026-06-01", 60],
        ]),
        ({"before": "2026-06-01"}, []),  # nothing computed before that day
    ],
    "snapshot-changes": [
        # the risk graph holds no full snapshot: test_snapshots_services runs this query on two exports
        ({"fact_type": "vrp", "scope": "ripe", "on_date": "2025-07-20"}, []),
    ],
}

CASES = [(name, params, rows) for name, cases in EXPECTED.items() for params, rows in cases]


def comparable(columns: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    """Rows with graph columns replaced by their captions (everything else as plain values)."""
    return [[cell_text(v) if c in GRAPH_COLUMNS else v for c, v in zip(columns, row)] for row in rows]


@pytest.fixture(scope="module")
def risk_settings(services_settings: Settings) -> Settings:
    return services_settings.model_copy(update={"backend": "services"})


@pytest.fixture(scope="module")
def risk_graph(risk_settings: Settings) -> Any:
    """The risk graph loaded into the running Neo4j (the database is emptied first)."""
    return load_risk_graph(risk_settings)


@pytest.fixture(scope="module")
def library():  # noqa: ANN201
    return load_library()


def test_every_library_query_has_expected_rows(library) -> None:  # noqa: ANN001
    assert sorted(EXPECTED) == sorted(q.name for q in library.queries)


@pytest.mark.parametrize(("name", "params", "expected"), CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_library_query_returns_expected_rows(risk_graph, neo4j_driver, risk_settings, library, name, params, expected) -> None:  # noqa: ANN001
    query = library.get(name)
    columns, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, bind_parameters(query, params))
    assert columns == list(query.columns)
    assert comparable(columns, rows) == expected


@pytest.mark.parametrize(("name", "params", "expected"), CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_deep_link_cypher_gives_the_same_rows(risk_graph, neo4j_driver, risk_settings, library, name, params, expected) -> None:  # noqa: ANN001
    query = library.get(name)
    inlined = inline_parameters(query, bind_parameters(query, params))
    assert "$" not in inlined
    with neo4j_driver.session(database=risk_settings.neo4j_database, notifications_min_severity="OFF") as session:
        result = session.run(inlined)
        columns = list(result.keys())
        rows = [[plain_value(v) for v in record.values()] for record in result]
    assert comparable(columns, rows) == expected


def test_open_alerts_with_their_blast_radius(risk_graph, neo4j_driver, risk_settings, library) -> None:  # noqa: ANN001
    """The alerts the consumer's alert engine raised for the fixture (ids as the alert store has them)."""
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(risk_settings)
    try:
        ids = {alert["block"]: alert["id"] for alert in store.load_alerts()}
    finally:
        store.close()
    assert sorted(ids) == ["198.18.0.0/16", BLOCK_C]
    nw, sg = ids["198.18.0.0/16"], ids[BLOCK_C]
    query = library.get("alerts")
    columns, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, bind_parameters(query, {}))
    assert comparable(columns, rows) == [
        ["2026-04-01T00:00:00+00:00", "delegation_holder", "198.18.0.0/16", "RIPENCC holder nw-0001", "RIPENCC holder ew-0002",
         [BLOCK_A, BLOCK_B], ["Acme Hosting", "Beta Cloud"], nw,
         f"{nw} -> 198.18.0.0/16 | {nw} -> {BLOCK_A} | {nw} -> {BLOCK_B}"],
        ["2026-03-01T00:00:00+00:00", "transfer", BLOCK_C, "Old Holder Inc", "Southgate Networks",
         [BLOCK_C], ["Acme Hosting"], sg, f"{sg} -> {BLOCK_C} | {sg} -> {BLOCK_C}"],
    ]


def test_changes_since_and_alerts_by_type(risk_graph, neo4j_driver, risk_settings, library) -> None:  # noqa: ANN001
    """The fixture's two holder-change alerts, by what changed since a day and by type."""
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(risk_settings)
    try:
        ids = {alert["block"]: alert["id"] for alert in store.load_alerts()}
    finally:
        store.close()
    nw, sg = ids["198.18.0.0/16"], ids[BLOCK_C]
    query = library.get("changes-since")
    _, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, bind_parameters(query, {"since": "2026-03-02"}))
    assert rows == [
        ["2026-04-01T00:00:00+00:00", "delegation_holder", "open", "198.18.0.0/16", "RIPENCC holder ew-0002", [],
         [BLOCK_A, BLOCK_B], ["Acme Hosting", "Beta Cloud"], [], nw],
        ["2026-03-02T00:00:00+00:00", "transfer", "open", BLOCK_C, "Southgate Networks", [], [BLOCK_C], ["Acme Hosting"], [], sg],
    ]
    _, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, bind_parameters(query, {"since": "2026-03-03"}))
    assert [r[1] for r in rows] == ["delegation_holder"]
    query = library.get("alerts-by-type")
    _, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, bind_parameters(query, {}))
    assert rows == [
        ["delegation_holder", 1, 2, ["Acme Hosting", "Beta Cloud"], "2026-04-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", [nw]],
        ["transfer", 1, 1, ["Acme Hosting"], "2026-03-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", [sg]],
    ]


def test_find_block_risk_scores_are_the_analysis_scores(risk_graph, neo4j_driver, risk_settings, library) -> None:  # noqa: ANN001
    query = library.get("find-block")
    _, rows = run_query(neo4j_driver, risk_settings.neo4j_database, query, {"text": ""})
    assert {row[0]: row[-1] for row in rows} == {b.block: b.risk_score for b in risk_graph.blocks}


def test_run_executes_in_a_read_transaction(risk_graph, neo4j_driver, risk_settings, library) -> None:  # noqa: ANN001
    """A doctored library query that writes is refused by Neo4j itself (read access mode)."""
    from neo4j.exceptions import ClientError

    sneaky = library.get("block-chain").model_construct(
        name="sneaky", title="x", category="chains", description="x", cypher="CREATE (:Sneaky) RETURN 1 AS one",
        parameters=(), columns=("one",))
    with pytest.raises(ClientError):
        run_query(neo4j_driver, risk_settings.neo4j_database, sneaky, {})
    records, _, _ = neo4j_driver.execute_query("MATCH (n:Sneaky) RETURN count(n) AS n", database_=risk_settings.neo4j_database)
    assert records[0]["n"] == 0


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(_TEXT, st.integers(-2**63, 2**63 - 1), st.booleans(), st.dates(), st.lists(_TEXT, max_size=3)))
def test_cypher_literal_evaluates_back_to_the_value(neo4j_driver, value: Any) -> None:  # noqa: ANN001
    records, _, _ = neo4j_driver.execute_query(f"RETURN {cypher_literal(value)} AS v")
    got = records[0]["v"]
    assert (got.to_native() if hasattr(got, "to_native") else got) == value


def test_cli_run_prints_rows_as_json(risk_graph, risk_settings, run_cli) -> None:  # noqa: ANN001
    proc = run_cli("queries", "run", "renewal-gaps", "--param", f"as_of={AS_OF.isoformat()}", "--format", "json",
                   env={"CHAINRISK_BACKEND": "services", "CHAINRISK_STATE_DIR": str(risk_settings.state_dir)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{
        "block": BLOCK_A, "party": "LeaseCo", "supplied_until": "2026-06-30", "supplies": "Acme Hosting",
        "contract_until": "2027-06-30", "days_left": 29,
    }]
    assert f"Open in Neo4j Browser: {risk_settings.browser_url}?dbms=" in proc.stderr


def test_cli_run_csv_and_table(risk_graph, risk_settings, run_cli) -> None:  # noqa: ANN001
    env = {"CHAINRISK_BACKEND": "services", "CHAINRISK_STATE_DIR": str(risk_settings.state_dir)}
    csv_proc = run_cli("queries", "run", "block-spofs", "-p", f"prefix={BLOCK_B}", "--format", "csv", env=env)
    assert csv_proc.returncode == 0, csv_proc.stderr
    assert csv_proc.stdout == (
        "block,position,party,roles,supplies,cut\n"
        f'{BLOCK_B},0,Northwind Holdings,holder,BrokerX; LeaseCo,Northwind Holdings -> {BLOCK_B}\n'
    )
    table = run_cli("queries", "run", "source-clarity", env=env)
    assert table.returncode == 0, table.stderr
    assert "source-clarity: 1 row" in table.stdout and "Resale Ltd" in table.stdout and "Open in Neo4j Browser" in table.stdout


def test_cli_run_with_bad_parameter_names_it(risk_settings, run_cli) -> None:  # noqa: ANN001
    env = {"CHAINRISK_BACKEND": "services", "CHAINRISK_STATE_DIR": str(risk_settings.state_dir)}
    proc = run_cli("queries", "run", "renewal-gaps", "--param", "days=soon", env=env)
    assert proc.returncode != 0
    assert "--param days=soon: expected integer" in proc.stderr
    assert "Traceback" not in proc.stderr

