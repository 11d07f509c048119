"""The graph stores: the protocol both implement, the embedded (networkx) and Neo4j stores, all
executed Cypher, and the pure code both share (fact records, decisions, batch preparation, holder
history, the analysis input and the write-back plan)."""
