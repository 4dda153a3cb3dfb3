"""The 综治中心 operators' console (``hub console``): a read model of hub.cases and
hub.incidents (board.py), its Kafka edge (feed.py), and the web page (web.py, pages.py, plots.py,
static/)."""
