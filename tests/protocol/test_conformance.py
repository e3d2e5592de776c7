"""botocore's protocol vectors in reverse: botocore serializes, we parse; we serialize, botocore parses.

Three directions per case (see `sagemill.testing.protocol_vectors`): `input` (botocore's serializer builds
the request), `wire` (the vector's own serialized request) and `output` (our response read by botocore's
parser). Files not run: ec2 (EC2's query dialect, no EC2 API here) and smithy-rpc-v2-cbor* (CBOR is not
implemented; Python clients never pick it while JSON is offered).

SKIPS lists every case that does not apply to a server or cannot pass with botocore as the oracle; each
skipped case is also checked to still fail, so the list cannot go stale.
"""

from __future__ import annotations

import collections

import pytest

from sagemill.testing.protocol_vectors import VectorCase, run_case

_COMPRESSED = (
    "Request-compression vector: its `serialized` form gives only the Content-Encoding header, not the "
    "gzip body (the same case built by botocore's serializer runs as input/...)."
)
_HOST_ONLY = (
    "Client endpoint (host prefix) vector: its `serialized` form holds only the host, not the X-Amz-Target "
    "header that routes a request (the same case built by botocore's serializer runs as input/...)."
)
_TOKEN = (
    "Client-side idempotency-token autofill: the vector's request carries a token the client generated, "
    "which its params do not list."
)
_PRECEDENCE = (
    "Client-side precedence between a named query member and the same key in an httpQueryParams map; a "
    "server sees one value per key and puts every parameter in the map (Smithy's server case "
    "RestJsonServersPutAllQueryParamsInMap). botocore's serializer also lets the map win."
)
_DOCUMENT_PAYLOAD = (
    "botocore's serializer writes a document payload under a null key ({'null': ...}); the vector's own "
    "request (wire/...) parses correctly."
)
_UNSET_UNION = (
    "An unset union payload is an empty body, which botocore's parser rejects ('must have one and only one "
    "member set'); botocore's own runner ignores this case."
)
_HTTP_DATE_LIST = (
    "botocore splits a response header list on every comma, so it cannot read back a list of HTTP dates "
    "(which contain commas); botocore's own runner ignores this case."
)
_FLATTENED_NAMES = (
    "Two flattened lists share a member locationName ('item'); botocore's parser names flattened list "
    "elements by that member name and cannot tell them apart; botocore's own runner ignores this case."
)

SKIPS: dict[str, str] = {
    # -- wire: the vector's own request is incomplete or client-specific --------------------------------
    "wire/json/SDKAppliedContentEncoding_awsJson1_1": _COMPRESSED,
    "wire/json/SDKAppendsGzipAndIgnoresHttpProvidedEncoding_awsJson1_1": _COMPRESSED,
    "wire/json_1_0/SDKAppliedContentEncoding_awsJson1_0": _COMPRESSED,
    "wire/json_1_0/SDKAppendsGzipAndIgnoresHttpProvidedEncoding_awsJson1_0": _COMPRESSED,
    "wire/rest-json/SDKAppliedContentEncoding_restJson1": _COMPRESSED,
    "wire/rest-json/SDKAppendedGzipAfterProvidedEncoding_restJson1": _COMPRESSED,
    "wire/query/SDKAppliedContentEncoding_awsQuery": _COMPRESSED,
    "wire/query/SDKAppendsGzipAndIgnoresHttpProvidedEncoding_awsQuery": _COMPRESSED,
    "wire/rest-xml/SDKAppliedContentEncoding_restXml": _COMPRESSED,
    "wire/rest-xml/SDKAppendedGzipAfterProvidedEncoding_restXml": _COMPRESSED,
    "wire/json_1_0/AwsJson10EndpointTrait": _HOST_ONLY,
    "wire/json_1_0/AwsJson10EndpointTraitWithHostLabel": _HOST_ONLY,
    "wire/json_1_0/AwsJson10HostWithPath": _HOST_ONLY,
    "wire/rest-json/RestJsonHostWithPath": (
        "Client endpoint vector: the client's endpoint carries a base path (/custom) that a server is not "
        "addressed with."
    ),
    "wire/rest-json/MediaTypeHeaderInputBase64": (
        "A Smithy @mediaType header (plain base64) that botocore models as `jsonvalue` (base64 JSON); "
        "Sagemill follows the model, and botocore sends JSON (input/... passes)."
    ),
    "wire/rest-json/RestJsonQueryIdempotencyTokenAutoFill": _TOKEN,
    "wire/query/QueryProtocolIdempotencyTokenAutoFill": _TOKEN,
    "wire/rest-xml/QueryIdempotencyTokenAutoFill": _TOKEN,
    "wire/rest-json/RestJsonQueryPrecedence": _PRECEDENCE,
    "wire/rest-xml/RestXmlQueryPrecedence": _PRECEDENCE,
    # -- input: botocore's serializer does not produce the request the case describes -------------------
    "input/rest-json/RestJsonQueryPrecedence": _PRECEDENCE,
    "input/rest-xml/RestXmlQueryPrecedence": _PRECEDENCE,
    "input/rest-json/DocumentTypeAsPayloadInput": _DOCUMENT_PAYLOAD,
    "input/rest-json/DocumentTypeAsPayloadInputString": _DOCUMENT_PAYLOAD,
    # -- output: botocore's parser cannot read back what the case specifies -----------------------------
    "output/rest-json/RestJsonHttpPayloadWithUnsetUnion": _UNSET_UNION,
    "output/rest-xml/RestXmlHttpPayloadWithUnsetUnion": _UNSET_UNION,
    "output/rest-json/RestJsonInputAndOutputWithTimestampHeaders": _HTTP_DATE_LIST,
    "output/rest-xml/InputAndOutputWithTimestampHeaders": _HTTP_DATE_LIST,
    "output/rest-json/RestJsonInputAndOutputWithQuotedStringHeaders": (
        "botocore splits a response header list on every comma and ignores the quoting Smithy requires for "
        "items containing commas or quotes; botocore's own runner ignores this case."
    ),
    "output/rest-json/HttpPrefixHeadersResponse": (
        "An empty-prefix header map collects every response header, including the x-amzn-RequestId that "
        "Sagemill always sends."
    ),
    "output/query/QueryXmlLists": _FLATTENED_NAMES,
    "output/rest-xml/XmlLists": _FLATTENED_NAMES,
}

MIN_PASS_RATE = 0.95


def test_vector(vector_case: VectorCase | str) -> None:
    if isinstance(vector_case, str):
        pytest.fail(f"botocore protocol vectors unavailable: {vector_case}")
    run_case(vector_case)


def test_skips_name_real_cases_that_still_fail(vector_cases: list[VectorCase]) -> None:
    by_key = {case.key: case for case in vector_cases}
    assert not sorted(set(SKIPS) - set(by_key)), "SKIPS names cases that do not exist"
    passing = []
    for key in SKIPS:
        try:
            run_case(by_key[key])
        except Exception:
            continue
        passing.append(key)
    assert not passing, f"these skipped cases pass now; remove them from SKIPS: {passing}"


def test_every_protocol_has_cases_and_few_skips(vector_cases: list[VectorCase]) -> None:
    totals = collections.Counter(case.protocol for case in vector_cases)
    skipped = collections.Counter(case.protocol for case in vector_cases if case.key in SKIPS)
    assert set(totals) == {"json", "rest-json", "query", "rest-xml"}
    for protocol, count in totals.items():
        assert skipped[protocol] <= count * (1 - MIN_PASS_RATE), protocol
