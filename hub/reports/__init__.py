"""Reports people read: tables and charts over ``hub analytics`` output.

``tables`` is pure (records in, lines out; no matplotlib); ``charts`` draws PNGs with matplotlib
and is imported only when a chart is asked for (``hub report --chart``).
"""
