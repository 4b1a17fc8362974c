"""Open311 output: the same data as JSON or as XML, by the spec's "Spark convention".

A response is built once as plain Python (dicts keep the spec's field order) and written in
the format the URL's suffix asks for. In XML a list becomes a wrapper element holding one child
element per item, named by `ITEM` (services → service, notes → note); `None` is an empty
element and booleans are `true`/`false`, as in the spec's examples. Datetimes are W3C
(ISO 8601 with the offset) in Asia/Shanghai, e.g. 2026-11-29T19:20:30+08:00.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from django.http import HttpResponse
from django.utils import timezone

JSON = "json"
XML = "xml"
FORMATS = (JSON, XML)
CONTENT_TYPES = {JSON: "application/json; charset=utf-8", XML: "text/xml; charset=utf-8"}

# The element of one item in each list, by the list's name (Spark convention).
ITEM = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "notes": "note",
    "co_units": "co_unit",
}
# Characters XML 1.0 cannot carry at all (control characters other than tab and line breaks).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def w3c(moment: datetime | None) -> str | None:
    """2026-11-29T19:20:30+08:00: seconds, with the offset, in the server's time zone."""
    if moment is None:
        return None
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ElementTree.Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for name, child in value.items():
            _fill(ElementTree.SubElement(element, name), child)
    elif isinstance(value, list | tuple):
        item = ITEM.get(element.tag, "item")
        for child in value:
            _fill(ElementTree.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, data)
    body = ElementTree.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode()


def to_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def respond(
    fmt: str, root: str, data: Mapping[str, Any] | Sequence[Any], status: int = 200
) -> HttpResponse:
    """`data` as `fmt`; `root` names the XML root element (the JSON has none)."""
    body = to_xml(root, data) if fmt == XML else to_json(data)
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def errors_response(fmt: str, status: int, descriptions: Sequence[str]) -> HttpResponse:
    """The spec's error object: `[{"code": 400, "description": "…"}]` / `<errors><error>…`."""
    items = [{"code": status, "description": text} for text in descriptions]
    return respond(fmt, "errors", items, status=status)
