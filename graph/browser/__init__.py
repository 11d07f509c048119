"""The Neo4j Browser library: the versioned Cypher query library, its style sheet and deep links."""
