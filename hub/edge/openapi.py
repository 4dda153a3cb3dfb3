"""The gateway's OpenAPI 3 document, generated from the Avro contracts so that it cannot drift.

The event schemas of ``POST /v1/events/<kind>`` are derived from ``schemas/avro`` (field types,
enum symbols, nullability, required fields, the limits of ``hub.codec.limits``); the answers'
schemas describe the shapes :mod:`hub.edge.intake` builds. Served at ``GET /openapi.json``;
``extend()`` lets a plugin route (e.g. the building lookup) add its own paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.codec import Codec
from hub.codec.limits import MAX_ID_CHARS, TEXT_MAX
from hub.core.pseudonym import RAW_ALIASES
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS, SOURCE_KINDS

#: Most events in one ``POST /v1/events/<kind>`` request.
MAX_EVENTS = 1000

_REF = "#/components/schemas/"
_RESP = "#/components/responses/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _avro_type(avro: Any, name: str) -> dict[str, Any]:
    """JSON schema of one Avro field type as the interchange JSON form writes it."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        out = _avro_type(branches[0], name) if len(branches) == 1 else {}
        if "null" in avro:
            out = {**out, "nullable": True}
        return out
    if isinstance(avro, Mapping):
        kind = avro.get("type")
        if kind == "enum":
            return {"type": "string", "enum": list(avro["symbols"])}
        if avro.get("logicalType") == "timestamp-millis":
            return {"anyOf": [
                {"type": "integer", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS - 1,
                 "description": "UTC epoch milliseconds"},
                {"type": "string", "format": "date-time",
                 "description": "ISO-8601 with an offset, e.g. 2024-05-01T22:40:12+08:00"}]}
        return _avro_type(kind, name)
    if avro == "string":
        limit = TEXT_MAX.get(name, MAX_ID_CHARS)
        return {"type": "string", "minLength": 1, "maxLength": limit}
    if avro in ("int", "long"):
        number: dict[str, Any] = {"type": "integer"}
        if name == "severity":
            number.update(minimum=1, maximum=5)
        return number
    if avro in ("double", "float"):
        return {"type": "number"}
    if avro == "boolean":
        return {"type": "boolean"}
    return {}


def event_schema(codec: Codec, kind: str) -> dict[str, Any]:
    """One interchange event of ``kind``: the same JSON fields as a ``hub produce`` line."""
    schema = codec.schema(kind)
    props: dict[str, Any] = {"kind": {"type": "string", "enum": [kind], "description":
                                      "optional; must be the path's kind when given"}}
    required: list[str] = []
    names = set()
    for fld in schema["fields"]:
        prop = _avro_type(fld["type"], fld["name"])
        doc = fld.get("doc", "")
        if fld.get("pii") == "pseudonymized":
            doc += (" Personal: send the raw value or a p1: pseudonym; it is pseudonymized at "
                    "the gateway and never stored raw.")
        props[fld["name"]] = {**prop, "description": doc} if doc else prop
        names.add(fld["name"])
        if "default" not in fld:
            required.append(fld["name"])
    for alias, target in RAW_ALIASES.items():
        if target in names:
            props[alias] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS,
                            "description": f"the raw value of {target} (pseudonymized at the "
                            "gateway)"}
    return {"type": "object", "description": schema.get("doc", ""), "properties": props,
            "required": required, "additionalProperties": False}


_SITE_PARAMS: list[dict[str, Any]] = [
    {"name": "site_id", "in": "query", "required": True,
     "description": "The hub's site (小区) of the device: vendor payloads do not carry it, so "
     "each device is configured with its own callback URL. Missing: 400 naming site_id.",
     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}},
    {"name": "building_id", "in": "query", "required": False,
     "description": "The registry building of the device (required for access controllers).",
     "schema": {"type": "string", "maxLength": MAX_ID_CHARS}},
    {"name": "zone", "in": "query", "required": False,
     "description": "IANA zone of the device's clock, for times sent without an offset.",
     "schema": {"type": "string", "default": "Asia/Shanghai"}},
]
_DEVICE_PARAM = {"name": "device_id", "in": "query", "required": True,
                 "description": "The device's id: Dahua event lines do not name it.",
                 "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}}


def _responses(*extra: str, empty_ok: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "202": {"description": "Every event stored: Kafka acknowledged each one (acks=all).",
                "content": {"application/json": {"schema": _ref("Result")}}},
        "400": {"description": "Some events (or the request) rejected, each with its field; "
                "the others were stored and are listed in accepted.",
                "content": {"application/json": {"schema": _ref("Result")}}},
        "401": {"$ref": _RESP + "Unauthorized"},
        "403": {"$ref": _RESP + "Forbidden"},
        "408": {"$ref": _RESP + "TooSlow"},
        "413": {"$ref": _RESP + "TooLarge"},
        "503": {"description": "Kafka did not store some or all events: failed lists them; "
                "send those again (the event id makes a repeat harmless).",
                "content": {"application/json": {"schema": _ref("Result")}}},
    }
    if empty_ok:
        out["200"] = {"description": "Nothing to store (a heartbeat, an alarm's end): skipped "
                      "counts it.", "content": {"application/json": {"schema": _ref("Result")}}}
    for code in extra:
        out[code] = {"$ref": _RESP + {"404": "NotFound"}[code]}
    return out


def _components(codec: Codec) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Accepted": {"type": "object", "required": ["index", "kind", "event_id"],
                     "properties": {"index": {"type": "integer", "minimum": 0},
                                    "kind": {"type": "string", "enum": list(SOURCE_KINDS)},
                                    "event_id": {"type": "string"}}},
        "Rejected": {"type": "object", "required": ["index", "field", "message"],
                     "properties": {
                         "index": {"type": "integer", "minimum": 0, "nullable": True,
                                   "description": "position of the event in the request "
                                   "(array element, Dahua block, GA/T 1400 notification); "
                                   "null: the request as a whole"},
                         "field": {"type": "string", "description": "the field at fault "
                                   "(interchange field, vendor field, or query parameter)"},
                         "message": {"type": "string", "description": "what is wrong and "
                                     "how to fix it"}}},
        "Failed": {"type": "object", "required": ["index", "kind", "event_id", "message"],
                   "properties": {"index": {"type": "integer", "minimum": 0},
                                  "kind": {"type": "string"},
                                  "event_id": {"type": "string", "nullable": True},
                                  "message": {"type": "string"}}},
        "Result": {"type": "object", "required": ["accepted", "rejected", "failed", "skipped"],
                   "properties": {
                       "accepted": {"type": "array", "items": _ref("Accepted")},
                       "rejected": {"type": "array", "items": _ref("Rejected")},
                       "failed": {"type": "array", "items": _ref("Failed")},
                       "skipped": {"type": "integer", "minimum": 0},
                       "error": {"type": "string", "description": "summary (non-2xx only)"}}},
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}}},
        "IsapiAlert": {
            "type": "object", "xml": {"name": "EventNotificationAlert"},
            "description": "Hikvision ISAPI EventNotificationAlert (connectors/hikvision_isapi)",
            "required": ["eventType", "dateTime"],
            "properties": {"macAddress": {"type": "string"}, "deviceID": {"type": "string"},
                           "channelID": {"type": "string"}, "dateTime": {"type": "string"},
                           "eventType": {"type": "string"}, "eventState": {"type": "string"},
                           "eventDescription": {"type": "string"},
                           "isDataRetransmission": {"type": "boolean"},
                           "AccessControllerEvent": {"type": "object"}}},
        "DispositionNotifications": {
            "type": "object", "required": ["DispositionNotificationListObject"],
            "description": "GA/T 1400 face disposition notifications (connectors/gat1400)",
            "properties": {"DispositionNotificationListObject": {
                "type": "object", "required": ["DispositionNotificationObject"],
                "properties": {"DispositionNotificationObject": {
                    "type": "array", "items": {"type": "object"}}}}}},
    }
    for kind in SOURCE_KINDS:
        name = _schema_name(kind)
        schemas[name] = event_schema(codec, kind)
    error = {"application/json": {"schema": _ref("Error")}}
    return {
        "schemas": schemas,
        "responses": {
            "Unauthorized": {"description": "No API key, or a wrong one.", "content": error},
            "Forbidden": {"description": "The key may not send this kind or use this vendor "
                          "route.", "content": error},
            "NotFound": {"description": "No such route or kind.", "content": error},
            "TooLarge": {"description": "The body is over the size limit "
                         "(HUB_GATEWAY_MAX_BYTES, 1 MiB by default); refused before it is read.",
                         "content": error},
            "TooSlow": {"description": "The body did not arrive within 30 s of the headers.",
                        "content": error},
        },
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "Authorization: Bearer <key> (hub gateway --add-key)"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
    }


def _schema_name(kind: str) -> str:
    return "Event_" + kind


def _event_path(kind: str) -> dict[str, Any]:
    one = _ref(_schema_name(kind))
    return {"post": {
        "operationId": f"post_{kind}", "tags": ["events"],
        "summary": f"Send {kind} events (interchange JSON)",
        "description": f"One {kind} event, or an array of up to {MAX_EVENTS}: the JSON fields "
        "of a `hub produce` line. The valid events are stored even when others are rejected.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [one, {"type": "array", "items": one, "minItems": 1,
                            "maxItems": MAX_EVENTS}]}}}},
        "responses": _responses("404"),
    }}


def document(codec: Codec) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document of ``hub gateway``."""
    paths: dict[str, Any] = {f"/v1/events/{kind}": _event_path(kind) for kind in SOURCE_KINDS}
    paths["/v1/vendors/hikvision/isapi"] = {"post": {
        "operationId": "post_hikvision_isapi", "tags": ["vendors"],
        "summary": "Hikvision ISAPI alarm push (HTTP listening / HTTP host notification)",
        "description": "One EventNotificationAlert: XML, the JSON form access controllers send, "
        "or multipart/form-data with the XML/JSON part and a picture (the picture is dropped, "
        "never stored). Heartbeats (videoloss inactive) answer 200 with nothing stored.",
        "parameters": _SITE_PARAMS,
        "requestBody": {"required": True, "content": {
            "application/xml": {"schema": _ref("IsapiAlert")},
            "application/json": {"schema": _ref("IsapiAlert")},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "EventNotificationAlert": {"type": "string", "description": "the alert XML"},
                "picture": {"type": "string", "format": "binary",
                            "description": "dropped"}}},
                "encoding": {"EventNotificationAlert": {"contentType": "application/xml"},
                             "picture": {"contentType": "image/jpeg"}}}}},
        "responses": _responses(empty_ok=True),
    }}
    paths["/v1/vendors/dahua/events"] = {"post": {
        "operationId": "post_dahua_events", "tags": ["vendors"],
        "summary": "Dahua event-manager blocks",
        "description": "One or more blocks `Code=<code>;action=<Start|Stop|Pulse>;index=<n>"
        "[;data={...}]` (a multipart stream's boundaries are skipped). A Start and its Stop "
        "are one event: the Start is stored, the Stop skipped (pairing per device, kept by "
        "the gateway process).",
        "parameters": [*_SITE_PARAMS, _DEVICE_PARAM],
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {
            "type": "string", "example": "Code=CrossLineDetection;action=Start;index=0;data="
            "{\"UTC\": 1714574412, \"Name\": \"NorthWall\"}"}}}},
        "responses": _responses(empty_ok=True),
    }}
    gat = {"post": {
        "operationId": "post_gat1400_notifications", "tags": ["vendors"],
        "summary": "GA/T 1400 face disposition notifications (布控告警)",
        "description": "A DispositionNotificationListObject; each notification becomes one "
        "face_match (ids pseudonymized), or one rejection while the others are stored.",
        "parameters": _SITE_PARAMS,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("DispositionNotifications")}}},
        "responses": _responses(empty_ok=True),
    }}
    paths["/v1/vendors/gat1400/DispositionNotifications"] = gat
    paths["/v1/vendors/gat1400/VIID/DispositionNotifications"] = {
        "post": {**gat["post"], "operationId": "post_gat1400_viid_notifications"}}
    paths["/openapi.json"] = {"get": {
        "operationId": "get_openapi", "tags": ["service"], "security": [],
        "summary": "This document", "responses": {"200": {
            "description": "OpenAPI 3 document",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    paths["/metrics"] = {"get": {
        "operationId": "get_metrics", "tags": ["service"], "security": [],
        "summary": "Prometheus metrics of the gateway (hub_edge_*, hub_gateway_*)",
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    paths["/healthz"] = {"get": {
        "operationId": "get_healthz", "tags": ["service"], "security": [],
        "summary": "Liveness, and whether Kafka takes messages",
        "responses": {"200": {"description": "The gateway runs; kafka: ok or the problem",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "required": ["status", "kafka"],
                                  "properties": {"status": {"type": "string"},
                                                 "kafka": {"type": "string"}}}}}}}}}
    paths["/readyz"] = {"get": {
        "operationId": "get_readyz", "tags": ["service"], "security": [],
        "summary": "Readiness: whether events sent now can be stored (for a load balancer)",
        "responses": {
            "200": {"description": "Kafka takes messages",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["status"],
                        "properties": {"status": {"type": "string"}}}}}},
            "503": {"description": "Kafka does not answer: events would get 503 too",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["status", "kafka"],
                        "properties": {"status": {"type": "string"},
                                       "kafka": {"type": "string"}}}}}}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "天罗地网 hub gateway", "version": "1",
                 "description": "The HTTP edge of the event hub: interchange events and vendor "
                 "payloads in, Kafka records out. 202 only after Kafka acknowledged every "
                 "stored event. See docs/gateway.md."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [{"name": "events"}, {"name": "vendors"}, {"name": "service"}],
        "paths": paths,
        "components": _components(codec),
    }


def extend(doc: dict[str, Any], paths: Mapping[str, Any],
           schemas: Mapping[str, Any] | None = None) -> None:
    """Add a plugin's paths (and component schemas) to the served document."""
    doc["paths"].update(paths)
    if schemas:
        doc["components"]["schemas"].update(schemas)
