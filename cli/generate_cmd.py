"""`chainrisk generate`: write a seeded SYNTHETIC lease register (and matching VRPs, BGP origins and a
DROP list) for demos, tests and benchmarks. See ``chainrisk.synthetic``."""
from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--blocks", "n_blocks", type=click.IntRange(1, 1 << 20), required=True, help="Leased blocks to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and size give byte-identical files.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write into.")
@click.option("--broken-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of blocks given a defect (cycle, no holder, no lessee, bad date, host bits).")
@click.option("--signals/--no-signals", default=True, show_default=True,
              help="Also write vrps.json (rpki-client, with ASPAs), a pfx2as file, drop.txt, asndrop.json and bgpdump RIB lines matching the register.")
def generate(n_blocks: int, seed: int, out: Path, broken_rate: float, signals: bool) -> None:
    """Generate a synthetic portfolio (address space 240.0.0.0/4, private ASNs) into OUT."""
    from chainrisk.synthetic import write_dataset

    started = time.monotonic()
    try:
        manifest = write_dataset(n_blocks, seed, out, broken_rate=broken_rate, signals=signals)
    except OSError as exc:
        raise click.ClickException(f"cannot write into {out}: {exc.strerror or exc}") from None
    seconds = time.monotonic() - started
    click.echo(f"wrote {manifest['register_rows']:,} register rows for {n_blocks:,} blocks to {out / 'leases.csv'} in {seconds:.1f}s")
    for kind, name in manifest["files"].items():
        if kind != "register":
            click.echo(f"  {kind}: {out / name}")
    click.echo(f"ingest with: {ingest_hint(out, manifest['files'])}")


def ingest_hint(out: Path, files: dict[str, str]) -> str:
    """The commands that ingest every file written (in the demo's order), joined with ``&&``."""
    from chainrisk.cli.demo_cmd import DEMO_FILES

    return " && ".join(f"chainrisk ingest {worker} {out / files[kind]}" for kind, worker in DEMO_FILES if kind in files)
