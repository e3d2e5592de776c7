"""ListObjectsV2 and ListObjects with boto3: prefixes, delimiters, markers, tokens, MaxKeys, url encoding."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import empty_and_delete, make_bucket, request, s3

from sagemill.testing.live_server import LiveServer

__all__ = ["s3"]

KEYS = sorted(
    [
        "a.txt",
        "b/1.txt",
        "b/2.txt",
        "b/c/3.txt",
        "b/c/4.txt",
        "d/",
        "d/5.txt",
        "e+f g.txt",
        "z\u00e9/6.txt",
        "z\u00e9/7.txt",
        "\u65e5\u672c/8.txt",
    ],
    key=lambda k: k.encode(),
)


@pytest.fixture(scope="module")
def tree(server: LiveServer) -> Iterator[str]:
    client = server.client("s3")
    name = make_bucket(client, "tree")
    for key in KEYS:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    yield name
    empty_and_delete(client, name)


def keys_of(reply: dict[str, Any]) -> list[str]:
    return [item["Key"] for item in reply.get("Contents", [])]


def prefixes_of(reply: dict[str, Any]) -> list[str]:
    return [item["Prefix"] for item in reply.get("CommonPrefixes", [])]


def test_lists_everything_in_utf8_byte_order(s3: Any, tree: str) -> None:
    reply = s3.list_objects_v2(Bucket=tree)
    assert keys_of(reply) == KEYS
    assert reply["KeyCount"] == len(KEYS) and reply["IsTruncated"] is False
    first = reply["Contents"][0]
    assert first["Size"] == len(first["Key"].encode()) and first["StorageClass"] == "STANDARD"
    assert first["ETag"].startswith('"') and "Owner" not in first
    assert "Owner" in s3.list_objects_v2(Bucket=tree, FetchOwner=True)["Contents"][0]


def test_prefix_and_delimiter(s3: Any, tree: str) -> None:
    top = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert keys_of(top) == ["a.txt", "e+f g.txt"]
    assert prefixes_of(top) == ["b/", "d/", "z\u00e9/", "\u65e5\u672c/"]
    assert top["KeyCount"] == 6
    inner = s3.list_objects_v2(Bucket=tree, Prefix="b/", Delimiter="/")
    assert keys_of(inner) == ["b/1.txt", "b/2.txt"] and prefixes_of(inner) == ["b/c/"]
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="d/", Delimiter="/")) == ["d/", "d/5.txt"]
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="nothing")) == []
    # A multi-character delimiter.
    odd = s3.list_objects_v2(Bucket=tree, Delimiter=".txt")
    assert "a.txt" in prefixes_of(odd) and "b/1.txt" in prefixes_of(odd)


def test_max_keys_and_continuation_tokens(s3: Any, tree: str) -> None:
    collected: list[str] = []
    common: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": tree, "Delimiter": "/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        reply = s3.list_objects_v2(**kwargs)
        pages += 1
        assert reply["KeyCount"] <= 2
        collected += keys_of(reply)
        common += prefixes_of(reply)
        if not reply["IsTruncated"]:
            assert "NextContinuationToken" not in reply
            break
        token = reply["NextContinuationToken"]
    assert pages == 3
    assert collected == ["a.txt", "e+f g.txt"] and common == ["b/", "d/", "z\u00e9/", "\u65e5\u672c/"]
    paged = [
        key
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=tree, PaginationConfig={"PageSize": 3}
        )
        for key in keys_of(page)
    ]
    assert paged == KEYS
    assert s3.list_objects_v2(Bucket=tree, MaxKeys=0)["KeyCount"] == 0
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=tree, ContinuationToken="garbage!")
    assert caught.value.response["Error"]["Code"] == "InvalidArgument"


def test_start_after(s3: Any, tree: str) -> None:
    reply = s3.list_objects_v2(Bucket=tree, StartAfter="b/c/3.txt")
    assert keys_of(reply) == KEYS[KEYS.index("b/c/3.txt") + 1 :]
    assert reply["StartAfter"] == "b/c/3.txt"


def test_list_objects_v1_markers(s3: Any, tree: str) -> None:
    first = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=3)
    assert keys_of(first) == ["a.txt"] and prefixes_of(first) == ["b/", "d/"]
    assert first["IsTruncated"] is True and first["NextMarker"] == "d/"
    assert "Owner" in first["Contents"][0]
    second = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=3, Marker=first["NextMarker"])
    assert keys_of(second) == ["e+f g.txt"] and prefixes_of(second) == ["z\u00e9/", "\u65e5\u672c/"]
    assert second["IsTruncated"] is False
    plain = s3.list_objects(Bucket=tree, MaxKeys=4)
    assert keys_of(plain) == KEYS[:4] and plain["IsTruncated"] is True and "NextMarker" not in plain
    rest = s3.list_objects(Bucket=tree, Marker=KEYS[3])
    assert keys_of(rest) == KEYS[4:]
    paged = [key for page in s3.get_paginator("list_objects").paginate(Bucket=tree) for key in keys_of(page)]
    assert paged == KEYS


def test_url_encoding_on_the_wire(server: LiveServer, tree: str) -> None:
    reply = request(server, "GET", f"/{tree}?list-type=2&encoding-type=url&prefix=e%2Bf")
    assert reply.status_code == 200
    assert b"<Key>e%2Bf%20g.txt</Key>" in reply.content
    assert b"<EncodingType>url</EncodingType>" in reply.content
    plain = request(server, "GET", f"/{tree}?list-type=2&prefix=z%C3%A9%2F")
    assert "<Key>z\u00e9/6.txt</Key>".encode() in plain.content


def test_a_folder_of_many_keys_is_one_common_prefix(s3: Any) -> None:
    name = make_bucket(s3, "many")
    try:
        keys = [f"big/{i:04d}" for i in range(1003)] + ["small/x", "top"]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda key: s3.put_object(Bucket=name, Key=key, Body=b""), keys))
        reply = s3.list_objects_v2(Bucket=name, Delimiter="/")
        assert prefixes_of(reply) == ["big/", "small/"] and keys_of(reply) == ["top"]
        assert reply["IsTruncated"] is False
        page = s3.list_objects_v2(Bucket=name, Prefix="big/", MaxKeys=5000)
        assert len(page["Contents"]) == 1000 and page["IsTruncated"] is True and page["MaxKeys"] == 5000
    finally:
        empty_and_delete(s3, name)
