"""The 楼宇身份证 (building identity card) service: loading cards, door-plate QR codes.

``cards`` turns a registry export (CSV or JSON lines) into validated BuildingIdentity records,
row by row, so one bad row never stops the others; ``mirror`` writes the cards Redis serves
(``hub:building:{id}``, the same JSON the worker's registry reader mirrors); ``qr`` draws the
door plate's code. ``hub buildings`` (hub/commands/buildings_cmd.py) puts them together; the
lookup route that answers a scanned plate is hub/edge/lookup.py. docs/buildings.md explains all.
"""
