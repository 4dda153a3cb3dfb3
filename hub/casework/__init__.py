"""The 综治中心's casework service (``hub casework``): the one Faust app of the hub.

Cases are low volume and keyed by incident id, the shape Faust's agents and changelog-backed
tables are trusted for (docs/faust.md); the worker's data path is not (docs/adr/0005).
"""
