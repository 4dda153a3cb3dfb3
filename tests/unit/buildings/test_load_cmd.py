"""``hub buildings load``'s exit statuses without a broker: 2 for the file, 3 for Kafka, 1 when
every row is bad (README, "Exit status")."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main

HEADER = ("building_id,name,address,site_id,grid_id,township_code,district_code,city_code,"
          "households,rental_units")
NO_KAFKA = ["--bootstrap", "127.0.0.1:1", "--timeout", "1"]


def load(*args: str) -> int:
    return main(["buildings", "load", *args, *NO_KAFKA])


def test_a_missing_or_unreadable_file_is_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert load(str(tmp_path / "none.csv")) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
    (tmp_path / "cards.txt").write_text("x\n")
    assert load(str(tmp_path / "cards.txt")) == 2
    assert "--format csv|jsonl" in capsys.readouterr().err


def test_a_bad_header_is_2_and_nothing_is_sent(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text("building_id,floors\nB,3\n", encoding="utf-8")
    assert load(str(path)) == 2
    assert "'floors' is not a BuildingIdentity field" in capsys.readouterr().err


def test_kafka_down_is_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\nB,n,a,S,G,T,D,C,1,0\n", encoding="utf-8")
    assert load(str(path)) == 3
    assert "does not answer" in capsys.readouterr().err


def test_only_bad_rows_is_1_without_asking_kafka(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\nB,n,a,,G,T,D,C,1,0\n", encoding="utf-8")
    assert load(str(path)) == 1
    out, err = capsys.readouterr()
    assert f"{path}:2: site_id: must not be empty" in err
    assert out.strip() == "published 0, rejected 1"


def test_stdin_needs_a_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("-") == 2
    assert "give --format csv or --format jsonl" in capsys.readouterr().err
