"""REST operation routing: `http.requestUri` templates compiled and matched against method, path and query.

A template such as `/{Bucket}/{Key+}?uploads` has path labels (`{Name}` matches one segment, `{Name+}`
is greedy and may span `/`) and static query parts (`uploads` must be present, `list-type=2` must have that
value). Paths are matched in their raw, percent-encoded form so that an encoded `/` inside a label cannot
split it; label values are decoded after the match.

When several operations fit one request (S3's `PUT /{Bucket}/{Key+}` is PutObject, CopyObject, UploadPart
and UploadPartCopy) the most specific wins: more static query parts, then more literal path characters,
then fewer greedy labels, then the one whose required query/header members the request carries, then a
non-deprecated operation, then model order.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.request import AwsRequest

_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True, slots=True)
class UriTemplate:
    """One compiled `requestUri`."""

    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    static_query: tuple[tuple[str, str | None], ...]
    literal_length: int
    greedy_labels: int

    def match_labels(self, raw_path: str) -> dict[str, str] | None:
        """The decoded label values when the raw path fits the template, else None."""
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        try:
            return {name: unquote(found.group(i + 1), errors="strict") for i, name in enumerate(self.labels)}
        except UnicodeDecodeError:
            # Decoding with replacement would silently turn one name into another (e.g. an S3 key).
            raise ServiceError("InvalidURI", "Couldn't parse the specified URI.", 400) from None

    def static_query_satisfied(self, query: dict[str, list[str]]) -> bool:
        for key, value in self.static_query:
            if key not in query or (value is not None and value not in query[key]):
                return False
        return True

    @property
    def static_keys(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.static_query)


@lru_cache(maxsize=8192)
def compile_uri(request_uri: str) -> UriTemplate:
    """Compile a `requestUri` template (cached: templates are few and immutable)."""
    path, _, query = request_uri.partition("?")
    regex: list[str] = []
    labels: list[str] = []
    literal = 0
    greedy = 0
    position = 0
    for label in _LABEL.finditer(path):
        text = path[position : label.start()]
        regex.append(re.escape(text))
        literal += len(text)
        name = label.group(1)
        if name.endswith("+"):
            regex.append("(.+)")
            labels.append(name[:-1])
            greedy += 1
        else:
            regex.append("([^/]+)")
            labels.append(name)
        position = label.end()
    tail = path[position:]
    regex.append(re.escape(tail))
    literal += len(tail)
    if not path.endswith("/"):
        regex.append("/?")
    static = tuple(
        (key, value if "=" in part else None)
        for part in query.split("&")
        if part
        for key, _, value in [part.partition("=")]
    )
    return UriTemplate(re.compile("".join(regex)), tuple(labels), static, literal, greedy)


def query_multidict(request: AwsRequest) -> dict[str, list[str]]:
    """The query string as name → values (in order), blanks kept."""
    query: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(request.query, keep_blank_values=True, max_num_fields=10_000)
    except ValueError as exc:
        raise SerializationError("Too many query string parameters.") from exc
    for key, value in pairs:
        query.setdefault(key, []).append(value)
    return query


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    method: str
    template: UriTemplate
    deprecated: bool
    order: int


_ROUTES: weakref.WeakKeyDictionary[ServiceModel, dict[str, tuple[_Route, ...]]] = weakref.WeakKeyDictionary()


def _routes(service: ServiceModel) -> dict[str, tuple[_Route, ...]]:
    """The service's routes by HTTP method (built once per model)."""
    routes = _ROUTES.get(service)
    if routes is None:
        built: dict[str, list[_Route]] = {}
        for order, name in enumerate(service.operation_names):
            operation = service.operation_model(name)
            http = operation.http
            template = compile_uri(str(http.get("requestUri", "/")))
            method = str(http.get("method", "POST")).upper()
            built.setdefault(method, []).append(
                _Route(name, method, template, bool(operation.deprecated), order)
            )
        routes = {method: tuple(found) for method, found in built.items()}
        _ROUTES[service] = routes
    return routes


def _required_located_score(
    operation: OperationModel, request: AwsRequest, query: dict[str, list[str]]
) -> int:
    """+1 for each required query/header member present, -1 for each missing."""
    shape = operation.input_shape
    if shape is None:
        return 0
    score = 0
    for name in shape.required_members:
        member = shape.members.get(name)
        if member is None:
            continue
        location = member.serialization.get("location")
        wire_name = str(member.serialization.get("name", name))
        if location == "querystring":
            score += 1 if wire_name in query else -1
        elif location == "header":
            score += 1 if wire_name.lower() in request.headers else -1
    return score


def match_rest_operation(request: AwsRequest, service: ServiceModel) -> OperationModel:
    """The operation whose method and `requestUri` fit the request best."""
    raw_path = request.path or "/"
    method = request.method.upper()
    query = query_multidict(request)
    routes = _routes(service)
    fits = [
        route
        for route in routes.get(method, ())
        if route.template.pattern.fullmatch(raw_path) is not None
        and route.template.static_query_satisfied(query)
    ]
    if not fits:
        other_methods = (route for found in routes.values() for route in found if route.method != method)
        if any(route.template.pattern.fullmatch(raw_path) for route in other_methods):
            raise ServiceError(
                "MethodNotAllowed", f"The method {method[:16]} is not allowed against this resource.", 405
            )
        raise ServiceError(
            "UnknownOperationException", f"No operation matches {method[:16]} {raw_path[:256]}.", 404
        )
    if len(fits) == 1:
        return service.operation_model(fits[0].name)

    def rank(route: _Route) -> tuple[int, int, int, int, int, int]:
        operation = service.operation_model(route.name)
        template = route.template
        return (
            len(template.static_query),
            template.literal_length,
            -template.greedy_labels,
            _required_located_score(operation, request, query),
            0 if route.deprecated else 1,
            -route.order,
        )

    best = max(fits, key=rank)
    return service.operation_model(best.name)
