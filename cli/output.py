"""How the CLI prints tables: the terminal's width on a terminal, 160 columns when piped (rich
would otherwise fall back to 80 and wrap every name), plain text into a file."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

PIPED_WIDTH = 160


def print_table(table: Any, output: Path | None = None) -> None:
    """Print a rich table to stdout, or as plain text (no colours) into ``output``."""
    from rich.console import Console

    if output is None:
        Console(width=None if sys.stdout.isatty() else PIPED_WIDTH).print(table)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            Console(file=fh, width=200, no_color=True).print(table)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}", err=True)
