"""Check real answers against docs/openapi.yaml with jsonschema: JSON bodies, SSE events, headers.

The spec's own schemas are used as they are (OpenAPI 3.1 schemas are JSON Schema 2020-12);
only an event stream's `data` is read first: `contentSchema` under `contentMediaType:
application/json` describes the data's JSON, which jsonschema treats as an annotation, so the
data is parsed and checked against that schema in its place.
"""

from __future__ import annotations

import copy
import functools
import json
import re

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

from lingma_flask.ops.openapi import load_spec

URN = "urn:lingma-openapi"
EVENT_LINE = re.compile(r"\r\n|\r|\n")


def spec() -> dict:
    """Return the OpenAPI document (as the gateway serves it)."""
    return load_spec()


def openapi_path(rule: str) -> str:
    """Turn a Flask rule (`/v1/models/<path:model_id>`) into an OpenAPI path (`{model_id}`)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _content_schemas_inlined(node):
    """Replace every JSON-in-a-string schema by the schema of the JSON it holds."""
    if isinstance(node, dict):
        if node.get("contentMediaType") == "application/json" and "contentSchema" in node:
            return _content_schemas_inlined(node["contentSchema"])
        return {key: _content_schemas_inlined(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_content_schemas_inlined(item) for item in node]
    return node


@functools.cache
def _registry() -> referencing.Registry:
    document = _content_schemas_inlined(copy.deepcopy(spec()))
    return referencing.Registry().with_resource(URN, DRAFT202012.create_resource(document))


def _follow(ref: str) -> dict:
    """Return the spec's node a local `$ref` points at."""
    node = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _deref(node: dict) -> dict:
    """Follow `$ref`s (to components/responses, components/headers) to the node itself."""
    while "$ref" in node:
        node = _follow(node["$ref"])
    return node


def _validate(schema_node: dict, instance, where: str) -> None:
    """Fail with the most relevant error unless `instance` matches the schema."""
    validator = jsonschema.Draft202012Validator(
        schema_node, registry=_registry(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: len(list(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise AssertionError(f"{where}: {best.message} at {list(best.absolute_path)}\n"
                             f"instance: {json.dumps(instance)[:800]}")


def sse_events(body: bytes) -> list[dict]:
    """Parse an event stream into `{"event", "data"}` dicts (comments skipped)."""
    events, name, data = [], None, []
    for line in EVENT_LINE.split(body.decode("utf-8")) + [""]:
        if line == "":
            if data:
                events.append({"event": name or "message", "data": "\n".join(data)})
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
    return events


def _parsed(event: dict) -> dict:
    try:
        return {**event, "data": json.loads(event["data"])}
    except ValueError:
        return event


def response_spec(method: str, path: str, status: int) -> dict:
    """Return the documented response of an operation for a status, or fail."""
    operation = spec()["paths"].get(path, {}).get(method.lower())
    assert operation is not None, f"{method} {path} is not in the spec"
    documented = operation["responses"]
    assert str(status) in documented, (
        f"{method} {path} answered {status}, documented: {', '.join(documented)}")
    return _deref(documented[str(status)])


def check_answer(method: str, path: str, status: int, headers, body: bytes) -> None:
    """Fail unless an answer (status, headers, body) is one the spec documents."""
    documented = response_spec(method, path, status)
    where = f"{method} {path} {status}"
    _check_headers(documented.get("headers", {}), headers, where)
    content = documented.get("content")
    if not content:
        return
    media = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    assert media in content, f"{where}: content type {media!r}, documented {list(content)}"
    schema = {"$ref": f"{URN}#{_pointer(method, path, status, media)}"}
    if media == "application/json":
        _validate(schema, json.loads(body), where)
    elif media == "text/event-stream":
        events = sse_events(body)
        assert events, f"{where}: an empty event stream"
        names = content[media].get("x-sse-events", [])
        for index, event in enumerate(events):
            assert event["event"] in names, f"{where}: event {event['event']!r} not in x-sse-events"
            _validate(schema, _parsed(event), f"{where} event #{index}")


def _pointer(method: str, path: str, status: int, media: str) -> str:
    """The JSON pointer of a response schema (through a components/responses reference)."""
    documented = spec()["paths"][path][method.lower()]["responses"][str(status)]
    base = documented["$ref"].removeprefix("#") if "$ref" in documented else (
        "/paths/" + path.replace("~", "~0").replace("/", "~1")
        + f"/{method.lower()}/responses/{status}")
    return f"{base}/content/{media.replace('/', '~1')}/schema"


def _check_headers(documented: dict, headers, where: str) -> None:
    for name, header in documented.items():
        header = _deref(header)
        value = headers.get(name)
        if value is None:
            assert not header.get("required"), f"{where}: header {name} is missing"
            continue
        _validate(header["schema"], value, f"{where} header {name}")
