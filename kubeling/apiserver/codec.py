"""Encoding between stored bytes, request bodies and served objects.

What is stored is what is served (ARCHITECTURE.md): the stored value is the
object's JSON without ``metadata.resourceVersion``, which is derived from the
storage revision on the way out.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import yaml

from kubeling.api import errors, pbcodec

MAX_BODY = 3 * 1024 * 1024  # upstream's request body limit

try:  # libyaml is much faster when present
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader


def encode_for_storage(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode_stored(value: bytes, revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def decode_body(body: bytes, content_type: str) -> Any:
    """Parse a request body as JSON (or YAML); 400 with the parser's message if malformed."""
    if len(body) > MAX_BODY:
        raise errors.APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    ct = content_type.split(";")[0].strip().lower()
    if not body.strip():
        raise errors.bad_request("the request body is empty; send a JSON or YAML object")
    if ct == pbcodec.MEDIA_TYPE:
        try:
            return pbcodec.decode(body)
        except pbcodec.ProtobufError as exc:
            raise errors.bad_request(f"error decoding protobuf: {exc}") from exc
    if ct in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        try:
            return yaml.load(body, Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


def deep_copy(obj: dict[str, Any]) -> dict[str, Any]:
    """Copy an object that came from a cache before changing it.

    orjson round-tripping is several times faster than copy.deepcopy for JSON data.
    """
    try:
        return orjson.loads(orjson.dumps(obj))  # type: ignore[no-any-return]
    except TypeError:
        return copy.deepcopy(obj)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
