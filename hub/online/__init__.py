"""The engines over Kafka outside the worker: what hub/offline does over files, live."""
