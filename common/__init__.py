"""Primitives every layer shares (ingest, graph, analysis, the synthetic generator, cli): IPv4 prefix
arithmetic, UTC timestamps, pausing the cyclic garbage collector, and the JSON/CSV/text form of
report and query results. This package imports nothing else of chainrisk, so any package can
import it without a cycle."""
