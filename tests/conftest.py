"""Shared pytest fixtures. Keep each section small; put fixtures used by one file in that file."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from chainrisk.graph.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# No per-example deadline for hypothesis: on a shared 2-core machine a slow example is load, not a
# bug (speed is measured by bench/, never by tests).
hypothesis_settings.register_profile("chainrisk", deadline=None)
hypothesis_settings.load_profile("chainrisk")


# --- real services (Kafka + Neo4j started by `chainrisk services up`) ---------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def services_state_dir() -> Path:
    """The state folder `.ci/run` starts the services with: CHAINRISK_STATE_DIR, else <repo>/.chainrisk."""
    configured = os.environ.get("CHAINRISK_STATE_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".chainrisk"


@pytest.fixture(scope="session")
def services_settings() -> Settings:
    """Settings for the running Kafka and Neo4j. Skips when they are not up, except under CI=true,
    where it fails: CI must never pass by skipping the real services."""
    from chainrisk.graph.services import runner

    settings = Settings(state_dir=services_state_dir())
    down = [st.name for st in runner.status(settings) if not st.up]
    if down:
        reason = (
            f"{' and '.join(down)} not running for state dir {settings.state_dir}: "
            f"start them with `chainrisk services up`"
        )
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: the services are required)", pytrace=False)
        pytest.skip(reason)
    return settings


@pytest.fixture(scope="session")
def neo4j_password(services_settings: Settings) -> str:
    """The password the running Neo4j was initialised with."""
    return services_settings.resolve_neo4j_password()


@pytest.fixture(scope="session")
def neo4j_driver(services_settings: Settings, neo4j_password: str) -> Iterator[object]:
    """A Neo4j driver logged in to the running server."""
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(services_settings.neo4j_uri, auth=(services_settings.neo4j_user, neo4j_password))
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="session")
def kafka_config(services_settings: Settings) -> dict[str, object]:
    """kafka-python keyword arguments for the running broker."""
    return services_settings.kafka_client_config()


@pytest.fixture
def isolated_services(services_settings: Settings) -> Iterator[Callable[..., Settings]]:
    """A factory of services settings with a topic prefix and consumer group of their own
    (``isolated_services("graph", alerts=False)``); every topic made under them is deleted at the end."""
    import uuid

    made: list[Settings] = []

    def isolate(name: str, **updates: Any) -> Settings:
        prefix = f"test-{name}-{uuid.uuid4().hex[:10]}"
        fresh = services_settings.model_copy(update={"backend": "services", "topic_prefix": prefix, "consumer_group": prefix,
                                                     "topic_partitions": 3, **updates})
        made.append(fresh)
        return fresh

    yield isolate
    from kafka_topics import delete_topics

    for fresh in made:
        delete_topics(services_settings.kafka_client_config(), fresh.topic_prefix)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port on 127.0.0.1 that nothing listens on right now."""

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


# --- running the CLI as a user would ---------------------------------------------------------


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli() -> CliRunner:
    """Run `chainrisk ARGS...` in a subprocess (this interpreter) and return the completed process.

    Keyword ``env`` adds or overrides environment variables (a value of None removes one);
    ``timeout`` defaults to 300 s.
    """

    def run(*args: str, env: dict[str, str | None] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        return subprocess.run(
            [sys.executable, "-m", "chainrisk.cli.main", *args],
            cwd=REPO_ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- running one ingest worker over one file ---------------------------------------------------


INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def ingest_file() -> Callable[..., list[Any]]:
    """A function running a worker's ``parse(src, ctx)`` over one file and returning everything it
    yields (events, Reject, Skip) in order. ``ingested_at`` is fixed to :data:`INGESTED_AT` so
    expected events can be written out in full (also available as ``ingest_file.ingested_at``);
    ``observed_at`` is the operator override."""
    from chainrisk.ingest.common import ParseContext, SourceFile

    def run(parse: Callable[..., Any], path: Path, observed_at: datetime | None = None) -> list[Any]:
        ctx = ParseContext(reference=str(path), ingested_at=INGESTED_AT, observed_at=observed_at)
        with SourceFile(path) as src:
            return list(parse(src, ctx))

    run.ingested_at = INGESTED_AT  # type: ignore[attr-defined]
    return run
