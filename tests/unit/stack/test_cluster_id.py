"""The KRaft cluster id never starts with "-" (Kafka's command line would take it for an option).

Seen once in a clean-clone CI run: `StorageTool format -t -rzGLjKSRZ-atAYQ8S6Phg` failed with
"argument --cluster-id/-t: expected one argument".
"""

from __future__ import annotations

from pathlib import Path

from hub.settings import Settings
from hub.stack.kafka import KafkaPaths, _cluster_id


def test_generated_ids_are_kafka_uuids_without_a_leading_dash(tmp_path: Path) -> None:
    paths = KafkaPaths.of(Settings(state_dir=tmp_path))
    paths.cluster_id.parent.mkdir(parents=True, exist_ok=True)
    seen = set()
    for _ in range(2000):  # one random id in 64 starts with "-": 2000 draws would show it
        paths.cluster_id.unlink(missing_ok=True)
        cid = _cluster_id(paths)
        assert len(cid) == 22 and not cid.startswith("-"), cid
        seen.add(cid)
    assert len(seen) == 2000
    assert _cluster_id(paths) == cid  # kept once written: the data dir stays formatted for it
