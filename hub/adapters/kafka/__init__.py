"""Where Kafka is touched: the one package that imports confluent_kafka.

- :mod:`.clients` -- the client types (re-exported below) and the worker's client factories;
- :mod:`.io` -- the tools' producers and consumers, delivery reports, ``kafka_problem``;
- :mod:`.admin` -- topics: plan and apply topology/topics.yaml, ``ensure_topic``, partition counts.

Everything else in hub/ and connectors/ imports these names from here (enforced by
tests/unit/test_architecture.py); Faust, in hub/casework and hub/online/analytics_app.py, brings
its own aiokafka.
"""

from hub.adapters.kafka.clients import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Clients,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
    make_ends_probe,
    make_offsets_consumer,
    make_registry_consumer,
    make_restore_consumer,
    make_viewer_consumer,
    make_worker_consumer,
    make_worker_producer,
    worker_clients,
)
from hub.adapters.kafka.io import (
    DELIVERY_TIMEOUT_MS,
    DeliveryReport,
    KafkaIOError,
    flush,
    kafka_problem,
    make_consumer,
    make_producer,
    produce,
    topic_for_kind,
)

__all__ = [
    "DELIVERY_TIMEOUT_MS",
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "Clients",
    "Consumer",
    "DeliveryReport",
    "KafkaError",
    "KafkaException",
    "KafkaIOError",
    "Message",
    "Producer",
    "TopicPartition",
    "flush",
    "kafka_problem",
    "make_consumer",
    "make_ends_probe",
    "make_offsets_consumer",
    "make_producer",
    "make_registry_consumer",
    "make_restore_consumer",
    "make_viewer_consumer",
    "make_worker_consumer",
    "make_worker_producer",
    "produce",
    "topic_for_kind",
    "worker_clients",
]
