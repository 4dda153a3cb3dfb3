"""The baseline of worker_bench: a naive Faust agent that writes one table entry per event.

    HUB_APP_ID=hubbench-naive-x python -m benchmarks.naive_agent --worker-id n1

It consumes the same source topics as `hub worker`, with a plain ``async for`` over the stream
(no batching, no decoding) and ``table[key] = value`` for every event: a changelog-backed Table,
memory store, the same broker, offset-reset and commit settings as the hub's app. It is the
shape docs/faust.md's Speed section warns about, the floor of what Faust costs per event plus one
table write. Its own app id (``HUB_APP_ID``) gives it its own consumer group and changelog.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import faust

from hub.settings import SOURCE_TOPICS, Settings


def create_naive_app(settings: Settings, datadir: Path) -> faust.App:
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=4,
        web_enabled=False,
        web_tables_enabled=False,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=1,
    )
    source = app.topic(*SOURCE_TOPICS.values(), key_serializer="raw", value_serializer="raw")
    raw = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    table = app.Table("naive-last", schema=raw, key_type=bytes, value_type=bytes, partitions=4)

    @app.agent(source, concurrency=1)
    async def naive(stream: Any) -> None:
        async for event in stream.events():
            table[event.key] = event.value

    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker-id", default="naive")
    p.add_argument("--loglevel", default="warning")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    app = create_naive_app(settings, settings.state_dir / "naive" / args.worker_id)
    from faust import Worker

    Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
