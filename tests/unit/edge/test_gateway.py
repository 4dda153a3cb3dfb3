"""The gateway's handlers against a fake sink: answers, what is produced, what is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from hub.core.pseudonym import is_pseudonym
from hub.edge.intake import GATEWAY_KEY
from tests.unit.edge.support import FakeSink, auth, gateway_run

CONNECTORS = Path(__file__).resolve().parents[3] / "connectors"
HIK = "/v1/vendors/hikvision/isapi"
DAHUA = "/v1/vendors/dahua/events"
GAT = "/v1/vendors/gat1400/DispositionNotifications"
Client = TestClient[Any, Any]


def fixture(vendor: str, name: str) -> bytes:
    return (CONNECTORS / vendor / "fixtures" / name).read_bytes()


def alarm(event_id: str = "pa-1", **over: Any) -> dict[str, Any]:
    return {"event_id": event_id, "vendor": "acme", "device_id": "fence-7", "site_id": "SITE-1",
            "event_time": "2024-05-01T22:40:12+08:00", "zone_id": "Z1",
            "alarm_type": "INTRUSION", "severity": 4, **over}


# -- interchange -----------------------------------------------------------------------------------


def test_one_event_is_202_only_with_its_id_and_produced_validated(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", json=alarm(), headers=auth(keys["pa"]))
        assert r.status == 202
        body = await r.json()
        assert body == {"accepted": [{"index": 0, "kind": "perimeter_alarm", "event_id": "pa-1"}],
                        "rejected": [], "failed": [], "skipped": 0}
        assert [(k, rec["event_id"], rec["event_time"]) for k, rec in sink.produced] == [
            ("perimeter_alarm", "pa-1", 1714574412000)]
        assert sink.reconciles("interchange")

    gateway_run(tmp_path, test)


def test_personal_values_are_pseudonymized_before_produce(tmp_path: Path) -> None:
    swipe = {"event_id": "sw-1", "vendor": "acme", "device_id": "d", "site_id": "S",
             "event_time": 1714574412000, "building_id": "B1", "door_id": "D1",
             "card_no": "0012345678", "method": "CARD", "result": "DENIED"}

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/access_swipe", json=swipe, headers=auth(keys["all"]))
        assert r.status == 202, await r.text()
        record = sink.produced[0][1]
        assert is_pseudonym(record["credential_hash"])
        assert "0012345678" not in json.dumps(sink.produced)

    gateway_run(tmp_path, test)


def test_a_lone_surrogate_in_a_card_number_is_400_naming_it(tmp_path: Path) -> None:
    """A personal value is hashed before validation: "6222\\ud800" raised there, a 500 with
    no outcome counted (an outside probe)."""
    swipe = {"event_id": "sw-1", "vendor": "acme", "device_id": "d", "site_id": "S",
             "event_time": 1714574412000, "building_id": "B1", "door_id": "D1",
             "card_no": "6222\ud800", "method": "CARD", "result": "GRANTED"}

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/access_swipe", data=json.dumps(swipe).encode(),
                              headers=auth(keys["all"]))
        assert r.status == 400, await r.text()
        got = await r.json()
        assert [(x["field"], "U+D800" in x["message"]) for x in got["rejected"]] == [
            ("card_no", True)]
        assert sink.produced == []
        assert sink.reconciles("interchange")

    gateway_run(tmp_path, test)


def test_a_mixed_array_stores_the_valid_and_names_each_bad_field(tmp_path: Path) -> None:
    events = [alarm("ok-1"), alarm("bad-1", severity=9), "nope", alarm("ok-2"),
              alarm("bad-2", kind="face_match"), alarm("bad-3", event_time=1714574412)]

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", json=events,
                              headers={"X-API-Key": keys["pa"]})
        assert r.status == 400
        body = await r.json()
        assert [a["event_id"] for a in body["accepted"]] == ["ok-1", "ok-2"]
        assert [(x["index"], x["field"]) for x in body["rejected"]] == [
            (1, "severity"), (2, "body"), (4, "kind"), (5, "event_time")]
        assert "epoch seconds" in body["rejected"][3]["message"]
        assert [rec["event_id"] for _, rec in sink.produced] == ["ok-1", "ok-2"]
        assert sink.dead == []  # interchange callers get the error; nothing to dead-letter
        assert sink.reconciles("interchange")

    gateway_run(tmp_path, test)


def test_an_event_naming_a_field_twice_is_rejected_alone(tmp_path: Path) -> None:
    """JSON keeps the last of two values under one name without a word: a severity 5 sent as
    ``"severity": 1, ..., "severity": 5`` is refused, naming it, and its neighbours stored."""
    one = json.dumps(alarm("ok-1"))
    twice = json.dumps(alarm("twice-1", severity=1))[:-1] + ', "severity": 5}'
    body = f"[{one}, {twice}]"

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", data=body,
                              headers={**auth(keys["pa"]), "Content-Type": "application/json"})
        assert r.status == 400
        got = await r.json()
        assert [a["event_id"] for a in got["accepted"]] == ["ok-1"]
        assert [(x["index"], x["field"]) for x in got["rejected"]] == [(1, "severity")]
        assert "more than once" in got["rejected"][0]["message"]
        assert [rec["event_id"] for _, rec in sink.produced] == ["ok-1"]

    gateway_run(tmp_path, test)


def test_a_lone_surrogate_is_400_naming_the_field(tmp_path: Path) -> None:
    """JSON may escape half a surrogate pair ("\\ud800"); it is not text, and must be the
    field's error rather than a 500 where the text is hashed or written out."""
    body = json.dumps([alarm("ok-1"), alarm("bad-1", zone_id="Z\ud800"),
                       {**alarm("bad-2"), "x\udc00": 1}]).encode()

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", data=body, headers=auth(keys["pa"]))
        assert r.status == 400
        got = await r.json()
        assert [a["event_id"] for a in got["accepted"]] == ["ok-1"]
        assert [x["index"] for x in got["rejected"]] == [1, 2]
        assert got["rejected"][0]["field"] == "zone_id"
        assert "U+D800" in got["rejected"][0]["message"]
        assert [rec["event_id"] for _, rec in sink.produced] == ["ok-1"]

    gateway_run(tmp_path, test)


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"), (b"[]", "body"), (b"42", "body"),
    (json.dumps([alarm(str(i)) for i in range(1001)]).encode(), "body"),
])
def test_unreadable_requests_are_400_naming_the_body(tmp_path: Path, body: bytes,
                                                     field: str) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", data=body, headers=auth(keys["pa"]))
        assert r.status == 400
        got = await r.json()
        assert got["rejected"][0]["field"] == field and got["error"]
        assert sink.produced == []

    gateway_run(tmp_path, test)


# -- keys ------------------------------------------------------------------------------------------


def test_keys_401_403_404(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        url = "/v1/events/perimeter_alarm"
        r = await client.post(url, json=alarm())
        assert r.status == 401 and "API key" in (await r.json())["error"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = keys["pa"][:-3] + "xyz"
        assert (await client.post(url, json=alarm(), headers=auth(wrong))).status == 401
        assert (await client.post(url, json=alarm(), headers=auth("nodot"))).status == 401
        r = await client.post("/v1/events/face_match", json={}, headers=auth(keys["pa"]))
        assert r.status == 403 and "face_match" in (await r.json())["error"]
        r = await client.post(HIK + "?site_id=S", data=b"<x/>", headers=auth(keys["pa"]))
        assert r.status == 403 and "hikvision" in (await r.json())["error"]
        r = await client.post("/v1/events/incident", json={}, headers=auth(keys["all"]))
        assert r.status == 404 and "perimeter_alarm" in (await r.json())["error"]
        r = await client.get("/v1/nothing-here", headers=auth(keys["all"]))
        assert r.status == 404 and "error" in await r.json()
        basic = base64.b64encode(f"cams-user:{keys['pa']}".encode()).decode()
        r = await client.post(url, json=alarm(), headers={"Authorization": f"Basic {basic}"})
        assert r.status == 202
        assert sink.produced and sink.produced[0][1]["event_id"] == "pa-1"

    gateway_run(tmp_path, test)


# -- limits and Kafka ------------------------------------------------------------------------------


def test_413_before_the_body_is_read(tmp_path: Path) -> None:
    big = json.dumps([alarm(f"e{i}") for i in range(40)]).encode()
    assert len(big) > 2000

    async def chunks() -> Any:
        for i in range(0, len(big), 500):
            yield big[i:i + 500]

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", data=big, headers=auth(keys["pa"]))
        assert r.status == 413 and "2000 bytes" in (await r.json())["error"]
        r = await client.post("/v1/events/perimeter_alarm", data=chunks(),
                              headers=auth(keys["pa"]))  # chunked: no Content-Length
        assert r.status == 413
        assert sink.produced == []
        for body, ctype in ((b"<x>" + b"a" * 3000 + b"</x>", "application/xml"),
                            (b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + b"j" * 3000
                             + b"\r\n--b--\r\n", "multipart/form-data; boundary=b")):
            r = await client.post(f"{HIK}?site_id=S-1", data=body,
                                  headers={**auth(keys["cams"]), "Content-Type": ctype})
            assert r.status == 413
        assert sink.reconciles("hikvision")  # a 413 is no received event without an outcome

    gateway_run(tmp_path, test, gateway_max_bytes=2000)


def test_503_when_kafka_is_away_or_does_not_store(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        url = "/v1/events/perimeter_alarm"
        sink.problem = "Kafka at 127.0.0.1:1 does not answer"
        r = await client.post(url, json=[alarm("a"), alarm("b")], headers=auth(keys["pa"]))
        assert r.status == 503
        body = await r.json()
        assert "127.0.0.1:1" in body["error"] and body["accepted"] == []
        assert [f["event_id"] for f in body["failed"]] == ["a", "b"]
        assert sink.produced == []
        sink.problem = None
        sink.fail = lambda kind, rec: "Broker: timed out" if rec["event_id"] == "b" else None
        r = await client.post(url, json=[alarm("a"), alarm("b")], headers=auth(keys["pa"]))
        assert r.status == 503
        body = await r.json()
        assert [a["event_id"] for a in body["accepted"]] == ["a"]
        assert [(f["event_id"], "timed out" in f["message"]) for f in body["failed"]] == [
            ("b", True)]
        assert sink.reconciles("interchange")

    gateway_run(tmp_path, test)


def test_a_rejected_payload_kafka_did_not_keep_is_answered_503(tmp_path: Path) -> None:
    """Told 400 ("rejected"), a device never sends the payload again: unless its bytes are on
    the dead-letter topic, the answer is 503 so that it does."""
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        url = HIK + "?site_id=S-DOWN"
        sink.problem = "Kafka at 127.0.0.1:1 does not answer"
        r = await client.post(url, data=b"garbage<", headers=auth(keys["cams"]))
        assert r.status == 503, await r.text()
        assert "127.0.0.1:1" in (await r.json())["error"] and sink.dead == []
        sink.problem, sink.dead_fail = None, "Broker: timed out"
        r = await client.post(url, data=b"garbage<", headers=auth(keys["cams"]))
        assert r.status == 503 and "dead-letter" in (await r.json())["error"]
        sink.dead_fail = None  # Kafka is back: the device's next try is rejected and kept
        r = await client.post(url, data=b"garbage<", headers=auth(keys["cams"]))
        assert r.status == 400 and [d[0] for d in sink.dead] == [b"garbage<"]

    gateway_run(tmp_path, test)


def test_a_key_without_the_interchange_route_may_not_post_events(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post("/v1/events/perimeter_alarm", json=alarm("v"),
                              headers=auth(keys["cams"]))  # vendors hikvision, dahua
        assert r.status == 403 and "interchange" in (await r.json())["error"]
        assert sink.produced == []
        r = await client.post("/v1/events/perimeter_alarm", json=alarm("w"),
                              headers=auth(keys["pa"]))  # vendors interchange
        assert r.status == 202 and [rec["event_id"] for _, rec in sink.produced] == ["w"]

    gateway_run(tmp_path, test)


@pytest.mark.parametrize("path", ["/v1/events/perimeter_alarm", HIK + "?site_id=S"])
def test_a_body_that_stalls_is_answered_408(tmp_path: Path, path: str) -> None:
    """Half a body and then nothing held the connection open for as long as the client liked
    (20 such sockets stayed open past 150 s); now it gets 408 once body_read_s has passed."""
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        client.server.app[GATEWAY_KEY].body_read_s = 0.5
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write((f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {keys['all']}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ki"
                      ).encode())
        await writer.drain()
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(reader.readline(), timeout=10)
        except TimeoutError:
            status = b"no answer within 10 s"
        finally:
            writer.close()  # else the server's shutdown waits for the stalled request
        assert status.startswith(b"HTTP/1.1 408"), status
        assert 0.4 < time.monotonic() - started < 5
        assert sink.produced == []

    gateway_run(tmp_path, test)


# -- Hikvision -------------------------------------------------------------------------------------


def test_hikvision_xml_json_and_heartbeat(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post(HIK + "?site_id=SITE-7&building_id=B9",
                              data=fixture("hikvision_isapi", "linedetection.xml"),
                              headers={**auth(keys["cams"]), "Content-Type": "application/xml"})
        assert r.status == 202, await r.text()
        kind, record = sink.produced[-1]
        assert (kind, record["site_id"], record["building_id"], record["alarm_type"]) == (
            "perimeter_alarm", "SITE-7", "B9", "LINE_CROSSING")
        assert (await r.json())["accepted"][0]["event_id"] == record["event_id"]
        r = await client.post(HIK + "?site_id=SITE-7",
                              data=fixture("hikvision_isapi", "videoloss_heartbeat.xml"),
                              headers=auth(keys["cams"]))
        assert r.status == 200 and (await r.json())["skipped"] == 1
        assert len(sink.produced) == 1
        r = await client.post(HIK + "?site_id=SITE-7&building_id=B9",
                              data=fixture("hikvision_isapi", "access_face_pass.json"),
                              headers=auth(keys["cams"]))
        assert r.status == 403 and "access_swipe" in (await r.json())["error"]
        r = await client.post(HIK + "?site_id=SITE-7&building_id=B9",
                              data=fixture("hikvision_isapi", "access_face_pass.json"),
                              headers=auth(keys["all"]))
        assert r.status == 202 and sink.produced[-1][0] == "access_swipe"
        assert sink.reconciles("hikvision")

    gateway_run(tmp_path, test)


@pytest.mark.parametrize(("query", "field"), [("", "site_id"), ("?site_id=S&zone=Mars/Base",
                                                                  "zone")])
def test_vendor_routes_need_the_site_in_the_query(tmp_path: Path, query: str, field: str) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post(HIK + query, data=fixture("hikvision_isapi", "linedetection.xml"),
                              headers=auth(keys["cams"]))
        assert r.status == 400
        body = await r.json()
        assert body["rejected"] == [{"index": None, "field": field,
                                     "message": body["rejected"][0]["message"]}]
        assert field in body["error"] and sink.produced == []

    gateway_run(tmp_path, test)


def test_billion_laughs_is_400_fast_and_dead_lettered(tmp_path: Path) -> None:
    payload = fixture("hikvision_isapi", "billion_laughs.xml")

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        await client.get("/healthz")  # warm up the connection
        await client.post(HIK + "?site_id=S", data=b"<warm/>", headers=auth(keys["cams"]))
        started = time.perf_counter()
        r = await client.post(HIK + "?site_id=S", data=payload, headers=auth(keys["cams"]))
        elapsed = time.perf_counter() - started
        assert r.status == 400
        assert elapsed < 0.1, f"{elapsed * 1000:.0f} ms"
        body = await r.json()
        assert body["rejected"][0]["field"] == "EventNotificationAlert"
        assert "DTD" in body["rejected"][0]["message"]
        raw, error, source, _ = sink.dead[-1]
        assert raw == payload and error.reason == "DECODE_ERROR"
        assert source == "http:" + HIK and sink.produced == []

    gateway_run(tmp_path, test)


def _multipart(xml: bytes, picture: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("linedetection", xml, content_type="application/xml",
                   filename="linedetection.xml")
    form.add_field("linedetectionImage", picture, content_type="image/jpeg",
                   filename="linedetection.jpg")
    return form


def test_multipart_upload_keeps_the_alert_and_drops_the_picture(tmp_path: Path) -> None:
    picture = b"\xff\xd8\xff\xe0JFIF-PICTURE-BYTES" * 100

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        xml = fixture("hikvision_isapi", "linedetection.xml")
        r = await client.post(HIK + "?site_id=S", data=_multipart(xml, picture),
                              headers=auth(keys["cams"]))
        assert r.status == 202, await r.text()
        assert sink.produced[0][1]["alarm_type"] == "LINE_CROSSING"
        r = await client.post(HIK + "?site_id=S", data=_multipart(b"<EventNotif", picture),
                              headers=auth(keys["cams"]))
        assert r.status == 400
        raw = sink.dead[-1][0]
        assert raw == b"<EventNotif"  # the alert part only: never the picture
        form = aiohttp.FormData()
        form.add_field("img", picture, content_type="image/jpeg", filename="a.jpg")
        r = await client.post(HIK + "?site_id=S", data=form, headers=auth(keys["cams"]))
        assert r.status == 400 and (await r.json())["rejected"][0]["field"] == "multipart"
        assert all(b"PICTURE" not in d[0] for d in sink.dead)

    gateway_run(tmp_path, test)


# -- Dahua -----------------------------------------------------------------------------------------

START = ('Code=CrossLineDetection;action=Start;index=0;data={"EventID":10181,"Name":"NorthWall",'
         '"UTC":1714574412}')
STOP = START.replace("Start", "Stop")


def test_dahua_start_and_stop_are_one_event_per_device(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        url = DAHUA + "?site_id=S&device_id=cam-1"
        h = auth(keys["cams"])
        assert (await client.post(url, data=START, headers=h)).status == 202
        r = await client.post(url, data=START, headers=h)  # repeated Start: same event
        assert r.status == 200 and (await r.json())["skipped"] == 1
        other = await client.post(DAHUA + "?site_id=S&device_id=cam-2", data=START, headers=h)
        assert other.status == 202  # another device: its own pairing
        assert (await client.post(url, data=STOP, headers=h)).status == 200
        r = await client.post(url, data=START + "\n" + STOP + "\nCode=Oops;action=Blink;index=0",
                              headers=h)
        body = await r.json()
        assert r.status == 400
        assert len(body["accepted"]) == 1 and body["skipped"] == 1
        assert body["rejected"][0]["index"] == 2 and body["rejected"][0]["field"] == "action"
        assert sink.dead[-1][0] == b"Code=Oops;action=Blink;index=0"
        assert [rec["device_id"] for _, rec in sink.produced] == ["cam-1", "cam-2", "cam-1"]
        r = await client.post(DAHUA + "?site_id=S", data=START, headers=h)
        assert r.status == 400 and (await r.json())["rejected"][0]["field"] == "device_id"
        assert sink.reconciles("dahua")

    gateway_run(tmp_path, test)


def test_an_event_given_again_in_one_request_is_produced_once(tmp_path: Path) -> None:
    """20,000 identical Pulse blocks in one 1 MiB body made 20,000 Kafka records of one event
    id, for the worker's dedup to drop (an outside probe)."""
    pulse = START.replace("Start", "Pulse")

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        r = await client.post(DAHUA + "?site_id=S&device_id=cam-1", data="\n".join([pulse] * 50),
                              headers=auth(keys["cams"]))
        body = await r.json()
        assert r.status == 202, body
        assert (len(body["accepted"]), body["skipped"]) == (1, 49)
        assert len(sink.produced) == 1
        assert sink.reconciles("dahua")

    gateway_run(tmp_path, test)


def test_dahua_start_that_kafka_did_not_store_is_not_paired(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        url = DAHUA + "?site_id=S&device_id=cam-1"
        sink.fail = lambda kind, rec: "Local: Message timed out"
        r = await client.post(url, data=START, headers=auth(keys["cams"]))
        assert r.status == 503 and (await r.json())["failed"]
        sink.fail = lambda kind, rec: None
        r = await client.post(url, data=START, headers=auth(keys["cams"]))  # the device retries
        assert r.status == 202 and len(sink.produced) == 1

    gateway_run(tmp_path, test)


# -- GA/T 1400 -------------------------------------------------------------------------------------


def test_gat1400_notifications_each_stored_or_rejected(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        good = fixture("gat1400", "disposition_face_hits.json")
        r = await client.post(GAT + "?site_id=S", data=good, headers=auth(keys["all"]))
        assert r.status == 202, await r.text()
        assert {k for k, _ in sink.produced} == {"face_match"}
        assert "330102199001011234" not in json.dumps(sink.produced)  # raw id number
        r = await client.post("/v1/vendors/gat1400/VIID/DispositionNotifications?site_id=S",
                              data=fixture("gat1400", "disposition_bad_items.json"),
                              headers=auth(keys["all"]))
        body = await r.json()
        assert r.status == 400 and body["accepted"] and body["rejected"]
        assert {x["field"] for x in body["rejected"]} >= {
            "DispositionNotificationObject[1].TriggerTime"}
        assert len(sink.dead) == len(body["rejected"])
        r = await client.post(GAT + "?site_id=S", data=b'{"Wrong": 1}', headers=auth(keys["all"]))
        assert r.status == 400
        assert (await r.json())["rejected"][0]["field"] == "DispositionNotificationListObject"
        assert sink.reconciles("gat1400")

    gateway_run(tmp_path, test)


# -- service routes --------------------------------------------------------------------------------


def test_metrics_count_responses_per_vendor_and_status(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        await client.post("/v1/events/perimeter_alarm", json=alarm(), headers=auth(keys["pa"]))
        await client.post("/v1/events/perimeter_alarm", json=alarm())
        await client.post(HIK, data=b"<x/>", headers=auth(keys["cams"]))
        text = await (await client.get("/metrics")).text()
        assert 'hub_gateway_responses_total{status="202",vendor="interchange"} 1.0' in text
        assert 'hub_gateway_responses_total{status="401",vendor="interchange"} 1.0' in text
        assert 'hub_gateway_responses_total{status="400",vendor="hikvision"} 1.0' in text
        assert 'hub_edge_events_total{channel="http",outcome="produced",vendor="interchange"} ' \
            '1.0' in text
        health = await (await client.get("/healthz")).json()
        assert health == {"status": "ok", "kafka": "ok"}
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (200, {"status": "ready"})
        sink.problem = "Kafka at 127.0.0.1:1 does not answer"
        away = await client.get("/healthz")
        assert away.status == 200 and (await away.json())["kafka"] == sink.problem
        ready = await client.get("/readyz")  # a load balancer sends devices elsewhere
        assert (ready.status, (await ready.json())["kafka"]) == (503, sink.problem)

    gateway_run(tmp_path, test)


def test_openapi_describes_every_route_and_answer(tmp_path: Path) -> None:
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> dict[str, Any]:
        r = await client.get("/openapi.json")
        assert r.status == 200
        doc: dict[str, Any] = await r.json()
        served = {res.canonical for res in client.server.app.router.resources()}
        return {"doc": doc, "served": served}

    got = gateway_run(tmp_path, test)
    doc, served = got["doc"], got["served"]
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    from hub.model.events import SOURCE_KINDS
    expected = {p for p in served if "{kind}" not in p} | {
        f"/v1/events/{k}" for k in SOURCE_KINDS}
    assert expected <= paths
    for path, item in doc["paths"].items():
        if path.startswith("/v1/"):
            codes = set(item["post"]["responses"])
            assert {"202", "400", "401", "403", "413", "503"} <= codes, path
    hik = doc["paths"]["/v1/vendors/hikvision/isapi"]["post"]
    assert {p["name"]: p["required"] for p in hik["parameters"]} == {
        "site_id": True, "building_id": False, "zone": False}
    assert set(hik["requestBody"]["content"]) == {"application/xml", "application/json",
                                                   "multipart/form-data"}
    swipe = doc["components"]["schemas"]["Event_access_swipe"]
    assert "card_no" in swipe["properties"] and "event_time" in swipe["required"]


def test_the_building_lookup_route_sits_behind_the_keys(tmp_path: Path) -> None:
    """hub/edge/lookup.py, wired as `hub gateway` wires it: the key middleware answers 401, the
    route reads request["caller"] and refuses a key without the building_lookup kind."""
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> dict[str, Any]:
        assert (await client.get("/v1/buildings/B1")).status == 401
        r = await client.get("/v1/buildings/B1", headers=auth(keys["pa"]))
        assert r.status == 403 and "building_lookup" in (await r.json())["error"]
        doc: dict[str, Any] = await (await client.get("/openapi.json")).json()
        return doc

    doc = gateway_run(tmp_path, test, plugins=True)
    assert "/v1/buildings/{building_id}" in doc["paths"]


def test_a_flood_of_unknown_keys_neither_waits_forever_nor_holds_known_callers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key checks (scrypt) run in their own two threads and at most MAX_KEY_CHECKS wait: the
    rest are answered 429 unchecked, and a caller whose key was checked before (cached) is
    served meanwhile. Held checks stand for slow ones here."""
    from hub.edge.intake import GATEWAY_KEY, MAX_KEY_CHECKS

    release = threading.Event()

    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        headers = {"X-API-Key": keys["pa"]}
        assert (await client.post("/v1/events/perimeter_alarm", json=alarm("warm"),
                                  headers=headers)).status == 202  # now cached
        gw = client.server.app[GATEWAY_KEY]
        real = gw.keys.check
        monkeypatch.setattr(gw.keys, "check", lambda key: release.wait(10) and real(key))
        flood = [asyncio.create_task(client.post(
            "/v1/events/perimeter_alarm", json=alarm(f"f{i}"),
            headers={"X-API-Key": f"{keys['pa'].split('.')[0]}.wrong{i}"}))
            for i in range(MAX_KEY_CHECKS + 8)]
        while gw.key_checks_pending < MAX_KEY_CHECKS:
            await asyncio.sleep(0.01)
        batch = [alarm(f"known-{i}") for i in range(25)]  # > 20: validated in a worker thread
        ok = await asyncio.wait_for(client.post("/v1/events/perimeter_alarm", json=batch,
                                                headers=headers), 5)
        assert ok.status == 202
        release.set()
        statuses = sorted([(await r).status for r in flood])
        assert statuses == [401] * MAX_KEY_CHECKS + [429] * 8

    gateway_run(tmp_path, test)


def test_a_bug_is_a_counted_json_500_not_aiohttps_plain_text(tmp_path: Path) -> None:
    """A bug reached aiohttp as plain "500 Internal Server Error", uncounted in
    hub_gateway_responses_total (the lone-surrogate probe); the answer is JSON and counted."""
    async def test(client: Client, sink: FakeSink, keys: dict[str, str]) -> None:
        def broken(obj: Any, *, accept: Any = None) -> Any:
            raise RuntimeError("a bug")
        sink.validate = broken  # type: ignore[method-assign]
        r = await client.post("/v1/events/perimeter_alarm", json=alarm(),
                              headers=auth(keys["pa"]))
        assert r.status == 500
        assert "a bug, logged" in (await r.json())["error"]
        assert sink.metrics.responses.labels("interchange", "500")._value.get() == 1

    gateway_run(tmp_path, test)
