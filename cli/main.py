"""The `chainrisk` command. Thin: every subcommand lives in its own module and is imported lazily,
so `chainrisk --help` stays fast and a broken optional dependency only breaks its own command."""
from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "services": "chainrisk.cli.services_cmd:services",
    "ingest": "chainrisk.cli.ingest_cmd:ingest",
    "consume": "chainrisk.cli.consume_cmd:consume",
    "load": "chainrisk.cli.load_cmd:load",
    "analyze": "chainrisk.cli.report_cmd:analyze",
    "report": "chainrisk.cli.report_cmd:report",
    "whatif": "chainrisk.cli.report_cmd:whatif",
    "demo": "chainrisk.cli.demo_cmd:demo",
    "alerts": "chainrisk.cli.alerts_cmd:alerts",
    "queries": "chainrisk.cli.queries_cmd:queries",
    "generate": "chainrisk.cli.generate_cmd:generate",
    "config": "chainrisk.cli.config_cmd:config",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrisk")
def cli() -> None:
    """chainrisk: provider-chain risk for leased IPv4 blocks.

    Ingest workers publish holder, upstream, broker and lessee relationships to an event log
    (Kafka, or an embedded on-disk log by default); a consumer builds the chain graph (Neo4j, or
    networkx by default); analysis finds single points of failure and chain depth per leased block.
    """


if __name__ == "__main__":
    cli()
