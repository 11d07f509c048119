"""A Neo4j of a test's own, for tests that stop it or import into it: the shared services are never
stopped."""
from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chainrisk.graph.config import Settings

# the shared services' ports and a benchmark's second pair: a Neo4j of a test's own takes none of them
RESERVED_PORTS = frozenset({19092, 19093, 17687, 17474, 9092, 9093, 7687, 7474})


def _unused_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS and port not in taken:
            return port


@contextlib.contextmanager
def own_neo4j(services_settings: Settings, state_dir: Path, **update: Any) -> Iterator[Settings]:
    """A Neo4j started for the caller alone: ``services_settings`` with a state folder of its own,
    free bolt and HTTP ports and the shared jars (plus ``update``); stopped at the end."""
    from chainrisk.graph.services import runner

    bolt = _unused_port(set())
    http = _unused_port({bolt})
    jars = services_settings.jars_dir or services_settings.state_dir / "jars"
    own = services_settings.model_copy(update={"state_dir": state_dir, "neo4j_uri": f"bolt://127.0.0.1:{bolt}",
                                               "neo4j_http_port": http, "jars_dir": jars, "neo4j_password": None, **update})
    runner.up(own, only=(runner.NEO4J,))
    try:
        yield own
    finally:
        runner.down(own, only=(runner.NEO4J,))
