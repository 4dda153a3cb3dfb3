"""The edge: where devices' HTTP callbacks and MQTT messages become the hub's Kafka records.

``sink`` (produce with acknowledgement, dead letters), ``gateway`` (``hub gateway``: HTTP),
``mqtt_bridge`` (``hub mqtt-bridge``). Vendor payloads are mapped by the pure functions of
``connectors/``; personal values are pseudonymized before anything is produced.
"""
