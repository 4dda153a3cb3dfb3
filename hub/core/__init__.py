"""The pure core: rules, watermarks, dedup, correlation, routing. No I/O, no Faust, no Kafka.

Everything here is driven by event time and by values passed in, so the same engine runs
offline over a file (``hub correlate``) and online inside the worker with identical results.
"""
