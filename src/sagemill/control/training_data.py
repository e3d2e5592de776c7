"""Move a training job's bytes: channels from the object store into its layout, artifacts back out."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sagemill.control.s3_uris import AccessProblem, S3Location, check_owned, parse_s3_uri
from sagemill.executors.archives import create_tar_gz
from sagemill.objectstore.base import Expected, NoSuchBucketSpace, NoSuchObject, ObjectMeta, ObjectStore
from sagemill.store.base import Store

_PAGE = 1000


def _keys_under(objects: ObjectStore, location: S3Location) -> Iterator[str]:
    after = ""
    while True:
        try:
            page, more = objects.list_objects(location.bucket, location.key, after, _PAGE)
        except NoSuchBucketSpace as exc:
            raise AccessProblem(
                f"ClientError: Data download failed: bucket {location.bucket} does not exist."
            ) from exc
        for info in page:
            yield info.key
        if not more or not page:
            return
        after = page[-1].key


def _safe_relative(key: str, prefix: str) -> Path:
    """Where a key lands under a channel directory, as SageMaker places it; escaping keys are refused.

    The prefix names a folder (`data/train` or `data/train/`: files keep their path below it), an
    exact object (`data/train.csv`: the file keeps its name) or a partial name (`data/tr`: paths are
    kept from the folder the prefix is in).
    """
    folder = prefix.rstrip("/")
    if key == folder:
        relative = key.rsplit("/", 1)[-1]
    elif folder and key.startswith(folder + "/"):
        relative = key[len(folder) + 1 :]
    else:
        relative = key[len(prefix.rsplit("/", 1)[0]) + 1 :] if "/" in prefix else key
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise AccessProblem(
            f"ClientError: Data download failed: object key {key[:256]!r} cannot be a file name."
        )
    return Path(*parts)


def _download(objects: ObjectStore, bucket: str, key: str, target: Path, gunzip: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if gunzip and target.suffix == ".gz":
        target = target.with_suffix("")
    try:
        _, chunks = objects.open_object(bucket, key)
    except NoSuchObject as exc:
        raise AccessProblem(
            f"ClientError: Data download failed: s3://{bucket}/{key} does not exist."
        ) from exc
    staged = target.with_name(target.name + ".part")
    with staged.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    if gunzip:
        with gzip.open(staged, "rb") as packed, target.open("wb") as out:
            try:
                shutil.copyfileobj(packed, out, 1024 * 1024)
            except (OSError, EOFError) as exc:
                raise AccessProblem(
                    f"ClientError: Data download failed: s3://{bucket}/{key} is not valid gzip "
                    "(CompressionType is Gzip)."
                ) from exc
        staged.unlink()
    else:
        staged.replace(target)


def stage_channel(
    store: Store, objects: ObjectStore, account_id: str, channel: dict[str, Any], data_dir: Path
) -> int:
    """Copy one channel's objects into `data_dir/<channel>`; returns the number of files."""
    source = channel["DataSource"]["S3DataSource"]
    location = parse_s3_uri(source["S3Uri"])
    check_owned(store, account_id, location)
    gunzip = channel.get("CompressionType") == "Gzip"
    target_dir = data_dir / channel["ChannelName"]
    target_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    if source.get("S3DataType", "S3Prefix") == "ManifestFile":
        for base, key in _manifest_entries(objects, location, store, account_id):
            _download(objects, base.bucket, key, target_dir / _safe_relative(key, base.key), gunzip)
            count += 1
    else:
        for key in _keys_under(objects, location):
            if key.endswith("/"):
                continue
            _download(objects, location.bucket, key, target_dir / _safe_relative(key, location.key), gunzip)
            count += 1
    if count == 0:
        raise AccessProblem(
            f"ClientError: No data found in channel '{channel['ChannelName']}': nothing matches {location}."
        )
    return count


def _manifest_entries(
    objects: ObjectStore, location: S3Location, store: Store, account_id: str
) -> Iterator[tuple[S3Location, str]]:
    try:
        _, chunks = objects.open_object(location.bucket, location.key)
        document = json.loads(b"".join(chunks))
    except (NoSuchObject, ValueError) as exc:
        raise AccessProblem(f"ClientError: the manifest {location} is missing or not valid JSON.") from exc
    if not isinstance(document, list) or not document or not isinstance(document[0], dict):
        raise AccessProblem(f'ClientError: the manifest {location} must start with {{"prefix": "s3://…"}}.')
    base = parse_s3_uri(str(document[0].get("prefix", "")))
    check_owned(store, account_id, base)
    for entry in document[1:]:
        yield base, base.key + str(entry)


def upload_tree_as_tar(
    store: Store, objects: ObjectStore, account_id: str, source: Path, target: S3Location, scratch: Path
) -> str:
    """Tar and gzip `source` into `target`; returns the s3:// URI written."""
    check_owned(store, account_id, target)
    archive = scratch / (target.key.rsplit("/", 1)[-1] + ".part")
    with archive.open("wb") as out:
        create_tar_gz(source, out)
    try:
        with archive.open("rb") as body:
            objects.put_object(
                target.bucket,
                target.key,
                body,
                ObjectMeta(content_type="application/x-tar"),
                Expected(size=archive.stat().st_size),
            )
    finally:
        archive.unlink(missing_ok=True)
    return str(target)


def check_owned_location(store: Store, account_id: str, location: S3Location) -> None:
    check_owned(store, account_id, location)


def restore_prefix(
    store: Store, objects: ObjectStore, account_id: str, location: S3Location, target: Path
) -> int:
    """Copy every object under a prefix into `target` (checkpoint restore); an empty prefix is fine."""
    check_owned(store, account_id, location)
    count = 0
    prefix = location.key.rstrip("/") + "/" if location.key else ""
    for key in _keys_under(objects, S3Location(location.bucket, prefix)):
        if not key.endswith("/"):
            _download(objects, location.bucket, key, target / _safe_relative(key, prefix), False)
            count += 1
    return count


def upload_prefix(
    store: Store, objects: ObjectStore, account_id: str, source: Path, location: S3Location
) -> int:
    """Upload every file under `source` below a prefix (checkpoint sync); returns how many."""
    check_owned(store, account_id, location)
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        target = location.child(path.relative_to(source).as_posix())
        with path.open("rb") as body:
            objects.put_object(
                target.bucket, target.key, body, ObjectMeta(), Expected(size=path.stat().st_size)
            )
        count += 1
    return count
