"""Vendor connectors: pure mappings from device payloads to interchange records (see README.md).

Each vendor folder has a ``mapping`` module of pure functions (no I/O, no Kafka, no settings):
the payload and the site's configuration go in, :class:`connectors.common.Mapped` records or a
:class:`connectors.common.MappingError` come out.
"""
