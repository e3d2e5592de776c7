"""XML ↔ Python values by shape, shared by the query (responses) and REST-XML protocols.

Reading refuses any document with a DTD or entity declaration (the body is untrusted: no entity
expansion, no external references). Element names follow the model: `locationName`, `flattened` lists and
maps (repeated elements with no wrapper), `xmlAttribute` members, `xmlNamespace` declarations.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from sagemill.aws.errors import SerializationError
from sagemill.aws.protocol.base import RESPONSE_LOCATIONS, format_scalar, parse_scalar_text

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def local_name(tag: str) -> str:
    """An element or attribute name without its `{namespace}`."""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def parse_document(body: bytes) -> ET.Element:
    """Parse an untrusted XML document; DTDs and entity declarations are refused."""
    if _FORBIDDEN.search(body):
        raise SerializationError("XML documents with a DOCTYPE or ENTITY declaration are not accepted.")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SerializationError(f"The XML you provided was not well-formed: {exc}.") from exc
    except (ValueError, LookupError) as exc:
        raise SerializationError("The XML you provided could not be decoded.") from exc


def to_bytes(root: ET.Element) -> bytes:
    """A document with an XML declaration, UTF-8 encoded."""
    text = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")  # a bare CR would read back as LF
    return XML_DECLARATION + text.encode("utf-8")


def element_name(member_name: str, member: Shape) -> str:
    """The element a structure member is written as.

    A flattened list whose member has a `locationName` repeats elements of that name: botocore's parser
    (and AWS's query services) read it so, while Smithy's newer vectors use the member's own name.
    """
    if member.type_name == "list" and member.serialization.get("flattened"):
        inner = member.member.serialization.get("name")
        if inner:
            return str(inner)
    return str(member.serialization.get("name", member_name))


def _element_names(member_name: str, member: Shape) -> tuple[str, ...]:
    """Names a member is read under: its own, then the other spellings clients produce."""
    return (
        str(member.serialization.get("name", member_name)),
        element_name(member_name, member),
        member_name,
    )


def add_namespace(shape: Shape, element: ET.Element) -> None:
    namespace = shape.serialization.get("xmlNamespace")
    if isinstance(namespace, dict) and namespace.get("uri"):
        prefix = namespace.get("prefix")
        element.set(f"xmlns:{prefix}" if prefix else "xmlns", str(namespace["uri"]))
    elif isinstance(namespace, str) and namespace:
        element.set("xmlns", namespace)


# -- reading ------------------------------------------------------------------------------------------


def _children(element: ET.Element) -> dict[str, list[ET.Element]]:
    grouped: dict[str, list[ET.Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            grouped.setdefault(local_name(child.tag), []).append(child)
    return grouped


def _attribute(element: ET.Element, name: str) -> str | None:
    if name in element.attrib:
        return element.attrib[name]
    wanted = name.rsplit(":", 1)[-1]
    for key, value in element.attrib.items():
        if local_name(key) == wanted:
            return value
    return None


def read_structure(shape: Shape, element: ET.Element, *, body_only: bool = True) -> dict[str, Any]:
    """The members found under `element`; members bound to HTTP locations are skipped."""
    children = _children(element)
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        if body_only and member.serialization.get("location"):
            continue
        if member.serialization.get("xmlAttribute"):
            text = _attribute(element, str(member.serialization.get("name", name)))
            if text is not None:
                out[name] = _scalar(member, text, name)
            continue
        nodes = next((children[key] for key in _element_names(name, member) if key in children), None)
        if not nodes:
            continue
        if member.type_name == "list" and member.serialization.get("flattened"):
            out[name] = [read_value(member.member, node, name) for node in nodes]
        elif member.type_name == "map" and member.serialization.get("flattened"):
            out[name] = _read_entries(member, nodes, name)
        else:
            out[name] = read_value(member, nodes[0], name)
    return out


def read_value(shape: Shape, element: ET.Element, path: str) -> Any:
    """One element's value for its shape."""
    kind = shape.type_name
    if kind == "structure":
        return read_structure(shape, element, body_only=False)
    if kind == "list":
        return [read_value(shape.member, child, path) for child in element if isinstance(child.tag, str)]
    if kind == "map":
        return _read_entries(shape, [c for c in element if isinstance(c.tag, str)], path)
    return _scalar(shape, element.text or "", path)


def _read_entries(shape: Shape, entries: list[ET.Element], path: str) -> dict[str, Any]:
    key_name = str(shape.key.serialization.get("name", "key"))
    value_name = str(shape.value.serialization.get("name", "value"))
    out: dict[str, Any] = {}
    for entry in entries:
        parts = _children(entry)
        keys = parts.get(key_name)
        if not keys:
            raise SerializationError(f"A map entry in '{path}' has no <{key_name}>.")
        values = parts.get(value_name)
        key = _scalar(shape.key, keys[0].text or "", path)
        out[key] = read_value(shape.value, values[0], f"{path}.{key}") if values else None
    return out


def _scalar(shape: Shape, text: str, path: str) -> Any:
    if shape.type_name == "string":
        return text
    try:
        return parse_scalar_text(shape, text.strip())
    except SerializationError as exc:
        raise SerializationError(f"{exc.message[:-1]} at '{path}'.") from exc


# -- writing ------------------------------------------------------------------------------------------


def write_members(
    element: ET.Element, shape: Shape, values: Mapping[str, Any], skip: frozenset[str] = frozenset()
) -> None:
    """Append a structure's members (not those bound to HTTP locations) to `element`."""
    for name, member in shape.members.items():
        value = values.get(name)
        if value is None or member.serialization.get("location") in RESPONSE_LOCATIONS:
            continue
        if member.serialization.get("xmlAttribute"):
            element.set(str(member.serialization.get("name", name)), format_scalar(member, value, "iso8601"))
            continue
        tag = element_name(name, member)
        if tag in skip:
            continue
        write_value(element, member, value, tag)


def write_value(parent: ET.Element, shape: Shape, value: Any, name: str) -> None:
    """Append `value` under `parent` as element(s) called `name`."""
    kind = shape.type_name
    if kind == "structure":
        node = ET.SubElement(parent, name)
        add_namespace(shape, node)
        write_members(node, shape, value)
    elif kind == "list":
        member = shape.member
        items = [item for item in value if item is not None]
        if shape.serialization.get("flattened"):
            for item in items:
                write_value(parent, member, item, name)
            return
        node = ET.SubElement(parent, name)
        add_namespace(shape, node)
        item_name = str(member.serialization.get("name", "member"))
        for item in items:
            write_value(node, member, item, item_name)
    elif kind == "map":
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))
        flattened = bool(shape.serialization.get("flattened"))
        holder = parent
        if not flattened:
            holder = ET.SubElement(parent, name)
            add_namespace(shape, holder)
        for key, item in value.items():
            entry = ET.SubElement(holder, name if flattened else "entry")
            write_value(entry, shape.key, key, key_name)
            if item is not None:
                write_value(entry, shape.value, item, value_name)
    else:
        node = ET.SubElement(parent, name)
        add_namespace(shape, node)
        node.text = format_scalar(shape, value, "iso8601")
