"""Edges to the outside world: Kafka admin and I/O, Redis stores, topic specs."""
