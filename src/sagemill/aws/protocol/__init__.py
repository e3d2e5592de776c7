"""One parser and serializer per AWS protocol family, chosen by name."""

from __future__ import annotations

from sagemill.aws.protocol.base import WireProtocol


def protocol_for(name: str) -> WireProtocol:
    """The implementation of a botocore protocol name ('json', 'rest-json', 'query', 'rest-xml')."""
    if name == "json":
        from sagemill.aws.protocol.json import JsonProtocol

        return JsonProtocol()
    if name == "rest-json":
        from sagemill.aws.protocol.rest_json import RestJsonProtocol

        return RestJsonProtocol()
    if name == "query":
        from sagemill.aws.protocol.query import QueryProtocol

        return QueryProtocol()
    if name == "rest-xml":
        from sagemill.aws.protocol.rest_xml import RestXmlProtocol

        return RestXmlProtocol()
    raise ValueError(f"unsupported protocol {name!r}")


__all__ = ["WireProtocol", "protocol_for"]
