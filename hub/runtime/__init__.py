"""The live worker: one transactional batch loop around the pure engine (docs/adr/0005).

A thin shell: consume → decode → core → encode → produce, committed with the consumed offsets in
one Kafka transaction. See docs/architecture.md.
"""
