"""The query protocol's request encoding: flat `A.B.member.1=x` form pairs decoded by shape into values.

Keys follow botocore's query serializer: structure members by `locationName` (else the member name),
lists as `Name.member.N` (or `Name.<member locationName>.N`), flattened lists as `Name.N` (a flattened list
whose member has a `locationName` uses that name instead), an empty list as `Name=`, maps as
`Name.entry.N.key` / `Name.entry.N.value` (flattened: `Name.N.key`), with `key`/`value` renamed by the
key and value shapes' `locationName`.
"""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

from sagemill.aws.errors import SerializationError
from sagemill.aws.protocol.base import parse_scalar_text


class FormNode:
    """One dotted key segment: its own value (if the key ended here) and its children."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, FormNode] = {}

    def indexed(self) -> list[FormNode]:
        """Children named by positive integers, in numeric order."""
        numbered = [
            (int(key), node) for key, node in self.children.items() if key.isdigit() and len(key) < 10
        ]
        return [node for _, node in sorted(numbered, key=lambda pair: pair[0])]


def build_tree(pairs: list[tuple[str, str]]) -> FormNode:
    """Nest dotted keys: `A.B.1=x` → root.children['A'].children['B'].children['1'].value == 'x'."""
    root = FormNode()
    for key, value in pairs:
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = FormNode()
            node = child
        if node.value is None:
            node.value = value
    return root


def member_keys(member_name: str, member: Shape) -> tuple[str, ...]:
    """Key segments a structure member may be sent under, botocore's spelling first.

    For a flattened list whose member has a `locationName`, botocore sends that name (`item.1=x`) where
    the Smithy awsQuery protocol sends the member's own (`Hi.1=x`); both are accepted.
    """
    own = str(member.serialization.get("name", member_name))
    if member.type_name == "list" and member.serialization.get("flattened"):
        inner = member.member.serialization.get("name")
        if inner:
            return (str(inner), own)
    return (own,)


def decode(shape: Shape, node: FormNode, path: str) -> Any:
    """The value under `node` for `shape`."""
    kind = shape.type_name
    if kind == "structure":
        return decode_structure(shape, node, path)
    if kind == "list":
        holder: FormNode | None = node
        if not shape.serialization.get("flattened"):
            holder = node.children.get(str(shape.member.serialization.get("name", "member")))
        if holder is None:
            return []
        return [decode(shape.member, item, f"{path}[{i}]") for i, item in enumerate(holder.indexed())]
    if kind == "map":
        entries = node if shape.serialization.get("flattened") else node.children.get("entry")
        if entries is None:
            return {}
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))
        out: dict[str, Any] = {}
        for entry in entries.indexed():
            key_node = entry.children.get(key_name)
            if key_node is None or key_node.value is None:
                raise SerializationError(f"A map entry in '{path}' has no {key_name}.")
            key = decode(shape.key, key_node, path)
            value_node = entry.children.get(value_name)
            out[key] = decode(shape.value, value_node, f"{path}.{key}") if value_node is not None else None
        return out
    if node.value is None:
        raise SerializationError(f"Expected a value for '{path}'.")
    try:
        return parse_scalar_text(shape, node.value)
    except SerializationError as exc:
        raise SerializationError(f"{exc.message[:-1]} for '{path}'.") from exc


def decode_structure(shape: Shape, node: FormNode, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        child = next((node.children[k] for k in member_keys(name, member) if k in node.children), None)
        if child is not None:
            out[name] = decode(member, child, f"{path}.{name}" if path else name)
    return out
