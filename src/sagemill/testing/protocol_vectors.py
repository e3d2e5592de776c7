"""botocore's protocol test vectors, fetched from its sdist and run in reverse against Sagemill's protocols.

Input cases: botocore's serializer turns the case's `params` into a request; Sagemill matches and parses
it; the result must equal `params`. Output cases: Sagemill serializes the case's `result` (or error);
botocore's parser must read back exactly that. Values are compared after normalising by shape
(timestamps as epoch seconds, blobs as bytes, NaN as a string), and a member the wire cannot carry when
empty (an empty list or map in a header or query string) counts as equal to an absent one.
"""

from __future__ import annotations

import copy
import io
import json
import math
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore
from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

from sagemill.aws.errors import ServiceError
from sagemill.aws.protocol import protocol_for
from sagemill.aws.protocol.base import find_error_shape, parse_timestamp
from sagemill.aws.request import AwsRequest

# Vector file (stem) → the protocol it exercises.
SUITES = {
    "json": "json",
    "json_1_0": "json",
    "json_1_0-query-compatible": "json",
    "rest-json": "rest-json",
    "query": "query",
    "rest-xml": "rest-xml",
}
EXCLUDED_SUITES = {
    "ec2": "EC2's query dialect is not served by Sagemill (no EC2 API in scope).",
    "smithy-rpc-v2-cbor": "Smithy RPC v2 CBOR is not implemented yet (Python clients never choose it while "
    "JSON is offered).",
    "smithy-rpc-v2-cbor-query-compatible": "Smithy RPC v2 CBOR is not implemented yet.",
    "smithy-rpc-v2-cbor-non-query-compatible": "Smithy RPC v2 CBOR is not implemented yet.",
}
REQUEST_ID = "c0ffee00-0000-4000-8000-000000000000"
_LOCATED_EMPTY_OK = ("header", "headers", "querystring")


@dataclass(frozen=True)
class VectorCase:
    """One case of one vector file."""

    kind: str  # "input" (botocore's request), "wire" (the vector's request) or "output"
    suite: str  # the file's stem, e.g. "rest-json"
    case_id: str
    suite_data: dict[str, Any]  # description, metadata, shapes
    data: dict[str, Any]  # given, params/serialized or result/response/error

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.suite}/{self.case_id}"

    @property
    def protocol(self) -> str:
        return SUITES[self.suite]


# -- fetching -----------------------------------------------------------------------------------------


def fetch_vectors(cache_dir: Path, version: str | None = None) -> Path:
    """The folder holding `input/` and `output/` for this botocore version, downloading the sdist once."""
    version = version or str(botocore.__version__)
    target = cache_dir / f"protocols-{version}"
    if (target / "input").is_dir() and (target / "output").is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    sdist = cache_dir / f"botocore-{version}.tar.gz"
    if not sdist.exists():
        with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
            command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
            command += [f"botocore=={version}", "-d", scratch, "--quiet"]
            subprocess.run(command, check=True, capture_output=True, timeout=600)
            Path(scratch, sdist.name).replace(sdist)
    staging = Path(tempfile.mkdtemp(dir=cache_dir))
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                wanted = len(parts) == 6 and parts[1:4] == ("tests", "unit", "protocols")
                if (
                    wanted
                    and member.isfile()
                    and parts[4] in ("input", "output")
                    and parts[5].endswith(".json")
                ):
                    source = archive.extractfile(member)
                    assert source is not None
                    destination = staging / parts[4] / parts[5]
                    destination.parent.mkdir(exist_ok=True)
                    destination.write_bytes(source.read())
        try:
            staging.replace(target)
        except OSError:
            if not target.is_dir():  # not merely another process finishing first
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def load_cases(vectors: Path) -> list[VectorCase]:
    """Every case of the served protocols' vector files, in file order."""
    cases: list[VectorCase] = []
    for kind in ("input", "output"):
        for stem in SUITES:
            path = vectors / kind / f"{stem}.json"
            if not path.exists():
                continue
            for s_index, suite in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                suite_data = {key: value for key, value in suite.items() if key != "cases"}
                for c_index, data in enumerate(suite["cases"]):
                    case_id = str(data.get("id") or f"{s_index}:{c_index}")
                    cases.append(VectorCase(kind, stem, case_id, suite_data, data))
                    if kind == "input" and "serialized" in data:
                        cases.append(VectorCase("wire", stem, case_id, suite_data, data))
    return cases


def excluded_files(vectors: Path) -> Iterator[tuple[str, str]]:
    """(file, reason) for each vector file present but not run."""
    for kind in ("input", "output"):
        for path in sorted((vectors / kind).glob("*.json")):
            if path.stem not in SUITES:
                yield f"{kind}/{path.name}", EXCLUDED_SUITES.get(path.stem, "protocol not served")


# -- running ------------------------------------------------------------------------------------------


def build_model(case: VectorCase) -> tuple[ServiceModel, OperationModel]:
    description = copy.deepcopy(case.suite_data)
    given = copy.deepcopy(case.data["given"])
    name = given.get("name", "OperationName")
    description["operations"] = {name: given}
    description.setdefault("shapes", {})
    service = ServiceModel(description, service_name="vectors")
    return service, service.operation_model(name)


def run_case(case: VectorCase) -> None:
    """Run one case; AssertionError (or any exception) means it failed."""
    if case.kind == "output":
        run_output(case)
    else:
        run_input(case)


def run_input(case: VectorCase) -> None:
    """Input (botocore serializes `params`) and wire (the vector's own `serialized` request) cases."""
    service, operation = build_model(case)
    shape = operation.input_shape
    params = to_python(shape, copy.deepcopy(case.data.get("params", {}))) if shape is not None else {}
    if case.kind == "wire":
        request = vector_request(case.data["serialized"])
    else:
        serializer = create_serializer(case.protocol, include_validation=False)
        request = to_aws_request(serializer.serialize_to_request(params, operation))
    ours = protocol_for(case.protocol)
    matched = ours.match_operation(request, service)
    if matched.name != operation.name:
        raise AssertionError(f"matched {matched.name}, expected {operation.name}")
    parsed = ours.parse(request, matched)
    if shape is None:
        _assert_same({}, parsed)
        return
    expected = canonical(shape, params, case.protocol)
    _assert_same(expected, _reconcile_query_maps(shape, expected, canonical(shape, parsed, case.protocol)))


def run_output(case: VectorCase) -> None:
    service, operation = build_model(case)
    ours = protocol_for(case.protocol)
    parser = create_parser(case.protocol)
    if "error" in case.data:
        code = str(case.data.get("errorCode", ""))
        message = str(case.data.get("errorMessage") or "")
        error_shape = find_error_shape(service, operation, code)
        fields = to_python(error_shape, case.data["error"]) if error_shape is not None else case.data["error"]
        status = int(case.data.get("response", {}).get("status_code", 400))
        fault = bool(error_shape is not None and error_shape.metadata.get("fault"))
        error = ServiceError(code, message, status, sender_fault=not fault, fields=fields)
        response = _botocore_response(ours.serialize_error(error, service, operation, REQUEST_ID), operation)
        parsed = parser.parse(response, operation.output_shape)
        got = parsed.get("Error", {})
        actual: dict[str, Any] = {"Error": {"Code": got.get("Code"), "Message": got.get("Message") or ""}}
        expected: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
        parsed_shape = service.shape_for_error_code(got.get("Code"))
        if parsed_shape is not None:
            actual.update(canonical(parsed_shape, parser.parse(response, parsed_shape), case.protocol))
        if error_shape is not None:
            expected.update(canonical(error_shape, case.data["error"], case.protocol))
        else:
            expected.update(case.data["error"])
        _assert_same(expected, actual)
        return
    shape = operation.output_shape
    if case.protocol == "query" and shape is not None and shape.members:
        shape.serialization["resultWrapper"] = f"{operation.name}Result"  # as botocore's own runner does
    result = to_python(shape, copy.deepcopy(case.data.get("result", {}))) if shape is not None else {}
    response = _botocore_response(ours.serialize(result, operation, REQUEST_ID), operation)
    parsed = parser.parse(response, shape)
    parsed.pop("ResponseMetadata", None)
    expected_result = case.data.get("result", {})
    if shape is None:
        _assert_same(expected_result, parsed)
        return
    _assert_same(canonical(shape, expected_result, case.protocol), canonical(shape, parsed, case.protocol))


def to_aws_request(wire: dict[str, Any]) -> AwsRequest:
    """A botocore request dict (from `serialize_to_request`) as the AwsRequest the gateway would build."""
    body = wire.get("body", b"")
    if isinstance(body, dict):
        body = percent_encode_sequence(body).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    path, _, static_query = str(wire.get("url_path", "/")).partition("?")
    query_string = wire.get("query_string") or ""
    if isinstance(query_string, dict):
        query_string = percent_encode_sequence(query_string)
    query = "&".join(part for part in (static_query, query_string) if part)
    headers = {str(k).lower(): str(v) for k, v in (wire.get("headers") or {}).items()}
    return AwsRequest(str(wire.get("method", "POST")), path or "/", query, headers, bytes(body))


def vector_request(serialized: dict[str, Any]) -> AwsRequest:
    """The request a vector spells out (`method`, `uri` with query, `headers`, `body`)."""
    path, _, query = str(serialized.get("uri", "/")).partition("?")
    headers = {str(k).lower(): str(v) for k, v in (serialized.get("headers") or {}).items()}
    body = str(serialized.get("body", "")).encode("utf-8")
    return AwsRequest(str(serialized.get("method", "POST")), path or "/", query, headers, body)


def _botocore_response(response: Any, operation: OperationModel) -> dict[str, Any]:
    return {
        "status_code": response.status,
        "headers": HeadersDict(response.headers),
        "body": response.body,
        "context": {"operation_name": operation.name},
    }


# -- values -------------------------------------------------------------------------------------------


def to_python(shape: Shape | None, value: Any) -> Any:
    """A vector's JSON value as the Python value a handler would produce (datetimes, bytes, floats)."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type or not isinstance(value, dict):
            return value
        members = shape.members
        return {k: to_python(members[k], v) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [to_python(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_python(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and not isinstance(value, datetime):
        return parse_timestamp(value)
    if kind == "blob" and isinstance(value, str):
        return value.encode("utf-8")
    if kind in ("float", "double") and isinstance(value, str):
        return float(value)
    return value


def canonical(shape: Shape, value: Any, protocol: str) -> Any:
    """A value normalised for comparison, whoever produced it (vector JSON, botocore, Sagemill).

    Members the wire cannot carry when empty are dropped when empty: lists and maps in headers and
    query strings, raw (blob/string) payloads, and maps in the query protocol (botocore sends nothing).
    """
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if shape.is_document_type or not isinstance(value, dict):
            return value
        members = shape.members
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = members.get(key)
            if member is None:
                out[key] = item
                continue
            normal = canonical(member, item, protocol)
            if normal is not None and not (_empty(normal) and _empty_is_absent(protocol, shape, key, member)):
                out[key] = normal
        return out
    if kind == "list":
        return [canonical(shape.member, item, protocol) for item in value]
    if kind == "map":
        return {str(k): canonical(shape.value, v, protocol) for k, v in value.items()}
    if kind == "timestamp":
        stamp = value if isinstance(value, datetime) else parse_timestamp(value)
        return round(stamp.timestamp(), 6)
    if kind == "blob":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, io.IOBase) or hasattr(value, "read"):
            return value.read()
        return bytes(value)
    if kind in ("float", "double"):
        number = float(value)
        return "NaN" if math.isnan(number) else number
    return value


def _empty(value: Any) -> bool:
    return isinstance(value, list | dict | bytes | str) and len(value) == 0


def _empty_is_absent(protocol: str, parent: Shape, name: str, member: Shape) -> bool:
    where = member.serialization.get("location")
    if where in _LOCATED_EMPTY_OK:
        return member.type_name in ("list", "map")
    if parent.serialization.get("payload") == name and member.type_name in ("blob", "string"):
        return True
    return protocol == "query" and member.type_name == "map"


def _reconcile_query_maps(shape: Shape, expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """Servers put every query parameter in an httpQueryParams map, named ones too (Smithy's
    RestJsonServersPutAllQueryParamsInMap); drop the named ones the client did not put in the map."""
    named = {
        str(m.serialization.get("name", n))
        for n, m in shape.members.items()
        if m.serialization.get("location") == "querystring" and m.type_name != "map"
    }
    for name, member in shape.members.items():
        if member.serialization.get("location") != "querystring" or member.type_name != "map":
            continue
        found = actual.get(name)
        if isinstance(found, dict):
            wanted = expected.get(name) or {}
            kept = {k: v for k, v in found.items() if k in wanted or k not in named}
            if kept:
                actual[name] = kept
            else:
                del actual[name]
    return actual


def _assert_same(expected: Any, actual: Any) -> None:
    if expected != actual:
        show = json.dumps(expected, default=repr, sort_keys=True)
        got = json.dumps(actual, default=repr, sort_keys=True)
        raise AssertionError(f"expected {show[:1500]}\n     got {got[:1500]}")
