"""The Faust runtime: the only place faust and mode are imported.

A thin shell around the pure engine: decode → core → encode → send. See docs/architecture.md.
"""
