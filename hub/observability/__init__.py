"""Metrics declared once, exposed by the worker for Prometheus."""
