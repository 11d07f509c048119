"""`chainrisk consume`: build the graph from the event log (the consumer loop is graph/consumer.py).

Exit status: 0 when it stopped normally (``--until-idle`` caught up, or SIGINT/SIGTERM after the
current batch); 2 when Neo4j or Kafka stayed unavailable through every retry (nothing past the last
applied batch was committed); 3 when ``--until-idle`` gave up waiting (the graph stayed behind the topics'
ends with nothing arriving for ``--wait-timeout`` seconds, e.g. no partitions assigned); 1 for a
configuration error, an unusable state folder or another process holding the embedded graph.
With ``--processes N`` (services backend) it runs N consumer processes in one group, which share the
partitions, and exits with the worst of their statuses.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

EXIT_UNAVAILABLE = 2
EXIT_STALLED = 3


@click.command()
@click.option("--backend", type=click.Choice(["embedded", "services"]), help="Embedded log + networkx, or Kafka + Neo4j.")
@click.option("--until-idle", is_flag=True, help="Stop once every partition is read to its end.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Events per transaction (default 2000).")
@click.option("--group", help="Consumer group (default chainrisk-graph); processes in one group share partitions.")
@click.option("--state-dir", type=click.Path(path_type=Path), help="State folder (default .chainrisk).")
@click.option("--metrics-interval", type=float, default=10.0, show_default=True, help="Seconds between metrics log lines.")
@click.option("--retries", type=click.IntRange(min=1), default=6, show_default=True,
              help="Attempts per batch while Neo4j or Kafka is unavailable (backoff doubles each time).")
@click.option("--retry-backoff", type=click.FloatRange(min=0), default=1.0, show_default=True, help="First backoff, seconds.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="--until-idle: seconds the graph may stay behind the topics with nothing arriving (no partitions "
                   "assigned yet, or the rest held by other members) before exiting with status 3.")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Consumer processes in the group (services backend): 2 keeps both cores of a 2-core machine busy.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve /metrics (Prometheus), /healthz and /readyz on this port (env CHAINRISK_METRICS_PORT; default: no server).")
@click.option("--metrics-host", help="Address the metrics server listens on (default 127.0.0.1; 0.0.0.0 to widen it).")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log lines as text or as one JSON object per line (env CHAINRISK_LOG_FORMAT; default text).")
@click.pass_context
def consume(ctx: click.Context, backend: str | None, until_idle: bool, batch_size: int | None, group: str | None,
            state_dir: Path | None, metrics_interval: float, retries: int, retry_backoff: float, wait_timeout: float,
            processes: int, metrics_port: int | None, metrics_host: str | None, log_format: str | None) -> None:
    """Apply ingested events to the graph, batch by batch, exactly once in effect."""
    from chainrisk.common.logs import setup_logging
    from chainrisk.graph.config import ConfigError, load_settings
    from chainrisk.graph.consumer import ConsumerOptions, ConsumerStalled, ConsumerUnavailable
    from chainrisk.graph.consumer import consume as run
    from chainrisk.graph.statefiles import StateDirError
    from chainrisk.graph.stores.nx_persist import GraphStateError
    from chainrisk.graph.stores.nx_store import StoreBusy

    try:
        settings = load_settings(backend=backend, batch_size=batch_size, consumer_group=group, state_dir=state_dir,
                                 metrics_port=metrics_port, metrics_host=metrics_host, log_format=log_format)
    except Exception as exc:  # noqa: BLE001 - a bad chainrisk.toml or environment variable (never quoting a value)
        raise click.ClickException(f"configuration error: {exc}") from None
    setup_logging(settings.log_format)
    for noisy in ("kafka", "neo4j"):  # the consumer logs unavailability itself, once per attempt
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    if processes > 1:
        if settings.backend != "services":
            raise click.ClickException("--processes needs the services backend: the embedded graph has one writer")
        if settings.metrics_port is not None:
            raise click.ClickException("--metrics-port (or CHAINRISK_METRICS_PORT) serves one process: with --processes "
                                       "run each consumer as its own `chainrisk consume` with its own port")
        sys.exit(run_processes(ctx, processes))
    stop = {"requested": False}

    def request_stop(signum: int, _frame: Any) -> None:
        logging.getLogger("chainrisk.consumer").info("%s: stopping after the current batch", signal.Signals(signum).name)
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    options = ConsumerOptions(group=settings.consumer_group, batch_size=settings.batch_size, until_idle=until_idle,
                              metrics_interval_s=metrics_interval, max_attempts=retries, backoff_s=retry_backoff,
                              wait_timeout_s=wait_timeout)
    server = None
    if settings.metrics_port is not None:
        from chainrisk.graph.metrics import ConsumerMetrics, serve

        options.monitor = ConsumerMetrics()
        try:
            server = serve(options.monitor, settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            raise click.ClickException(f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror or exc}") from None
        logging.getLogger("chainrisk.consumer").info("serving /metrics, /healthz and /readyz on http://%s:%d/",
                                                     settings.metrics_host, server.port)
    try:
        stats = run(settings, options=options, should_stop=lambda: stop["requested"])
    except ConsumerUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except ConsumerStalled as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_STALLED)
    except (StoreBusy, GraphStateError, StateDirError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if server is not None:
            server.close()
    click.echo(f"consumed {stats.summary()}")


def child_arguments(ctx: click.Context) -> list[str]:
    """This command's own options, as given, for a child consumer process (``--processes`` left out)."""
    out: list[str] = []
    for param in ctx.command.params:
        if param.name == "processes" or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        flag = param.opts[0]
        if param.is_flag:
            if value:
                out.append(flag)
        else:
            out += [flag, str(value)]
    return out


def run_processes(ctx: click.Context, processes: int) -> int:
    """Run ``processes`` consumer processes with this command's options; SIGINT/SIGTERM are passed on
    (each stops after its current batch). Returns the worst exit status (unavailable beats error)."""
    command = [sys.executable, "-m", "chainrisk.cli.main", "consume", *child_arguments(ctx)]
    children = [subprocess.Popen(command) for _ in range(processes)]

    def pass_on(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    statuses = [child.wait() for child in children]
    if EXIT_UNAVAILABLE in statuses:
        return EXIT_UNAVAILABLE
    return max((abs(s) for s in statuses), default=0)
