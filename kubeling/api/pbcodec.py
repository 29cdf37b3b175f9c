"""Kubernetes protobuf request bodies -> the JSON-shaped objects we store.

client-go 1.32+ (and so kubectl 1.32+ and controller-runtime) sends built-in
objects as ``application/vnd.kubernetes.protobuf``: four magic bytes
``k8s\\x00`` and a ``runtime.Unknown`` envelope {1: typeMeta {1: apiVersion,
2: kind}, 2: raw, 3: contentEncoding, 4: contentType} whose ``raw`` is the
object's own message. We decode it guided by our OpenAPI definitions (field
names and types) and :mod:`protobuf_numbers` (field numbers).

Why not a protobuf library: decoding needs generated classes for ~400 message
types; the schema we already keep, plus the numbers, describes them fully, and
the wire format itself is a few dozen lines.

Go's protobuf encoder writes every non-pointer field, also when it holds the
zero value, while its JSON encoder omits empty ``omitempty`` ones; the zero
values of fields that JSON would omit are dropped (``KEEP_ZERO`` lists the
pointer and non-omitempty fields whose zero values stay, e.g. ``replicas: 0``),
and so are zero timestamps.
"""

from __future__ import annotations

import base64
import datetime
import struct
from typing import Any

import orjson

from kubeling.api import openapi, protobuf_numbers

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_TIME = {_META + "Time", _META + "MicroTime"}
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_RAW = {"io.k8s.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"}
_DURATION = _META + "Duration"


class ProtobufError(ValueError):
    pass


class _Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def varint(self) -> int:
        shift = result = 0
        buf = self.buf
        while True:
            if self.pos >= self.end:
                raise ProtobufError("truncated varint")
            b = buf[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ProtobufError("varint too long")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise ProtobufError("truncated field")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def fields(self) -> Any:
        """Yield (number, wire type, value): ints for varint/fixed, bytes for length-delimited."""
        while self.pos < self.end:
            key = self.varint()
            num, wt = key >> 3, key & 7
            if wt == 0:
                yield num, wt, self.varint()
            elif wt == 2:
                yield num, wt, self.take(self.varint())
            elif wt == 1:
                yield num, wt, self.take(8)
            elif wt == 5:
                yield num, wt, self.take(4)
            else:
                raise ProtobufError(f"unsupported wire type {wt}")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


def _time(raw: bytes, *, micro: bool) -> str | None:
    seconds = nanos = 0
    for num, _wt, v in _Reader(raw).fields():
        if num == 1:
            seconds = _signed(v)
        elif num == 2:
            nanos = _signed(v)
    if seconds == 0 and nanos == 0:
        return None  # the zero time: unset
    t = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(raw: bytes) -> str:
    ns = 0
    for num, _wt, v in _Reader(raw).fields():
        if num == 1:
            ns = _signed(v)
    # Go's time.Duration String(): the common forms are enough for our fields.
    if ns % 1_000_000_000 == 0:
        s = ns // 1_000_000_000
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{sec}s"
        return out
    return f"{ns / 1e9}s"


class Decoder:
    def __init__(self) -> None:
        self.defs = openapi.definitions()
        self.numbers = protobuf_numbers.FIELDS
        self._by_gvk: dict[tuple[str, str], str] = {}
        for name, schema in self.defs.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                gv = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
                self._by_gvk.setdefault((gv, gvk["kind"]), name)

    def decode(self, body: bytes) -> dict[str, Any]:
        if not body.startswith(MAGIC):
            raise ProtobufError("not a Kubernetes protobuf body (missing the k8s\\x00 prefix)")
        api_version = kind = ""
        raw = b""
        for num, wt, v in _Reader(body, len(MAGIC)).fields():
            if num == 1 and wt == 2:
                for n2, _w2, v2 in _Reader(v).fields():
                    if n2 == 1:
                        api_version = v2.decode()
                    elif n2 == 2:
                        kind = v2.decode()
            elif num == 2 and wt == 2:
                raw = v
            elif num == 3 and wt == 2 and v:
                raise ProtobufError(f"unsupported content encoding {v.decode(errors='replace')!r}")
        name = self._by_gvk.get((api_version, kind))
        if name is None:
            raise ProtobufError(f"no protobuf decoding for {kind} in {api_version or 'an unknown version'}")
        obj = self.message(raw, name)
        obj["apiVersion"] = api_version
        obj["kind"] = kind
        return obj

    def message(self, raw: bytes, name: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        """Decode one message. ``props`` overrides the schema's properties when an
        embedded struct is decoded into its parent's fields."""
        numbers = self.numbers.get(name)
        if numbers is None:
            raise ProtobufError(f"no protobuf field numbers for {name}")
        if props is None:
            props = self.defs[name].get("properties") or {}
        inline = protobuf_numbers.INLINE.get(name, {})
        keep_zero = protobuf_numbers.KEEP_ZERO.get(name, frozenset())
        out: dict[str, Any] = {}
        for num, wt, v in _Reader(raw).fields():
            if num in inline:
                # Go embeds this struct and JSON shows its fields inline (Volume's VolumeSource ...).
                out.update(self.message(v, inline[num], props))
                continue
            field = numbers.get(num)
            if field is None or field not in props:
                raise ProtobufError(f"{name.rsplit('.', 1)[-1]}: unknown protobuf field {num}")
            schema = props[field]
            resolved = openapi.resolve(schema, self.defs)
            kind = resolved.get("type")
            if kind == "array":
                item = resolved.get("items") or {}
                out.setdefault(field, []).extend(self._repeated(v, wt, item))
            elif kind == "object" and "additionalProperties" in resolved and not resolved.get("properties"):
                key, value = self._map_entry(v, resolved["additionalProperties"])
                out.setdefault(field, {})[key] = value
            else:
                value = self._value(v, wt, schema)
                if value is None:
                    continue
                # Go's protobuf encoder writes every non-pointer field; JSON omits
                # the empty ones tagged omitempty. Match JSON.
                if field not in keep_zero and (value == "" or value == 0 or value is False) and not (
                    isinstance(value, float) and value != 0
                ):
                    continue
                out[field] = value
        return out

    def _repeated(self, v: Any, wt: int, item: dict[str, Any]) -> list[Any]:
        resolved = openapi.resolve(item, self.defs)
        if wt == 2 and resolved.get("type") in ("integer", "boolean", "number") and not openapi.ref_name(item):
            # packed scalars
            r = _Reader(v)
            vals: list[Any] = []
            while r.pos < r.end:
                if resolved.get("type") == "number":
                    vals.append(struct.unpack("<d", r.take(8))[0])
                else:
                    x = r.varint()
                    vals.append(bool(x) if resolved.get("type") == "boolean" else _signed(x))
            return vals
        value = self._value(v, wt, item)
        return [value]

    def _map_entry(self, raw: bytes, value_schema: dict[str, Any]) -> tuple[str, Any]:
        key = ""
        value: Any = None
        for num, wt, v in _Reader(raw).fields():
            if num == 1:
                key = v.decode()
            elif num == 2:
                value = self._value(v, wt, value_schema)
        if value is None:
            value = self._zero(value_schema)
        return key, value

    def _zero(self, schema: dict[str, Any]) -> Any:
        t = openapi.resolve(schema, self.defs).get("type")
        return {"string": "", "integer": 0, "boolean": False, "number": 0.0}.get(str(t), {})

    def _value(self, v: Any, wt: int, schema: dict[str, Any]) -> Any:
        ref = openapi.ref_name(schema)
        if ref:
            if ref in _TIME:
                return _time(v, micro=ref.endswith("MicroTime"))
            if ref == _QUANTITY:
                for num, _w, s in _Reader(v).fields():
                    if num == 1:
                        return s.decode()
                return "0"
            if ref == _INT_OR_STRING:
                typ, iv, sv = 0, 0, ""
                for num, _w, x in _Reader(v).fields():
                    if num == 1:
                        typ = x
                    elif num == 2:
                        iv = _signed(x)
                    elif num == 3:
                        sv = x.decode()
                return sv if typ == 1 else iv
            if ref in _RAW:
                for num, _w, x in _Reader(v).fields():
                    if num == 1:
                        return orjson.loads(x) if x else None
                return None
            if ref == _DURATION:
                return _duration(v)
            target = openapi.resolve(schema, self.defs)
            if target.get("type") == "object" and (target.get("properties") or ref in self.numbers):
                if wt != 2:
                    raise ProtobufError(f"{ref}: expected a message")
                return self.message(v, ref)
            schema = target
        t = schema.get("type")
        if t == "string":
            if wt != 2:
                raise ProtobufError("expected a string")
            if schema.get("format") == "byte":
                return base64.b64encode(v).decode()
            return v.decode()
        if t == "integer":
            if wt == 0:
                return _signed(v)
            if wt == 1:
                return struct.unpack("<q", v)[0]
            if wt == 5:
                return struct.unpack("<i", v)[0]
            raise ProtobufError("expected an integer")
        if t == "boolean":
            return bool(v)
        if t == "number":
            if wt == 1:
                return struct.unpack("<d", v)[0]
            if wt == 5:
                return struct.unpack("<f", v)[0]
            return float(v)
        if t == "object" and "additionalProperties" in schema:
            raise ProtobufError("unexpected map value")
        if wt == 2:
            return v.decode(errors="replace")
        return v


_decoder: Decoder | None = None


def decode(body: bytes) -> dict[str, Any]:
    global _decoder
    if _decoder is None:
        _decoder = Decoder()
    return _decoder.decode(body)
