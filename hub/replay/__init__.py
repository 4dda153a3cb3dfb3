"""Record, replay, simulate and evaluate: the test engineer's toolkit (``hub record`` ...).

``simulate`` and ``evaluate`` are pure; ``record`` and ``replay`` touch Kafka through
confluent-kafka and write/read Avro object container files through fastavro.
"""
