"""Deploying a config: each production variant's model found, its model.tar.gz fetched and extracted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sagemill.control.s3_uris import check_owned, parse_s3_uri
from sagemill.domain.arns import sagemaker_arn
from sagemill.domain.endpoints import Variant
from sagemill.executors.archives import UnsafeArchive, extract_tar_gz
from sagemill.executors.images import UnsupportedImage
from sagemill.objectstore.base import NoSuchObject, ObjectStore
from sagemill.serving.instances import model_kind
from sagemill.store.base import Store


class DeployProblem(Exception):
    """A config, model or artifact that cannot be deployed; the message is the FailureReason."""


def plan_fleet(
    store: Store,
    objects: ObjectStore,
    account: str,
    region: str,
    root: Path,
    config_name: str,
    now: float,
    *,
    shadow: bool = False,
) -> tuple[Variant, ...]:
    """Each production (or, with `shadow`, shadow) variant of the config, its model extracted under `root`."""
    config = store.get_resource_by_arn(sagemaker_arn("endpoint_config", account, region, config_name))
    if config is None:
        raise DeployProblem(f'Could not find endpoint configuration "{config_name}".')
    specs = config.desired.get("ShadowProductionVariants" if shadow else "ProductionVariants") or []
    return tuple(_plan_variant(store, objects, account, region, root, config_name, s, now) for s in specs)


def _plan_variant(
    store: Store,
    objects: ObjectStore,
    account: str,
    region: str,
    root: Path,
    config_name: str,
    spec: dict[str, Any],
    now: float,
) -> Variant:
    model_name = spec["ModelName"]
    model = store.get_resource_by_arn(sagemaker_arn("model", account, region, model_name))
    if model is None:
        raise DeployProblem(f'Could not find model "{model_name}".')
    container = model.desired.get("PrimaryContainer") or (model.desired.get("Containers") or [{}])[0]
    image = str(container.get("Image", ""))
    environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    try:
        kind = model_kind(image, environment)
    except UnsupportedImage as exc:
        raise DeployProblem(f"Model {model_name}: {exc}") from exc
    # One directory per deployment: an UpdateEndpoint to the same config name must not overwrite
    # the files the live fleet is serving from.
    model_dir = root / "models" / config_name.lower() / f"{spec['VariantName']}-{int(now * 1000)}"
    if model_dir.exists():  # a retried step in the same millisecond: start it over
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    data_url = container.get("ModelDataUrl")
    if data_url:
        _fetch_archive(store, objects, account, str(data_url), model_dir, "model data")
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit.startswith("s3://"):
        # The SDK uploads source_dir as sourcedir.tar.gz (no repack); the containers extract it into
        # <model-dir>/code, where the model server looks for SAGEMAKER_PROGRAM.
        _fetch_archive(store, objects, account, submit, model_dir / "code", "source code")
    return Variant(
        name=spec["VariantName"],
        model_name=model_name,
        image=image,
        model_dir=str(model_dir),
        instance_type=str(spec.get("InstanceType", "")),
        kind=kind,
        environment=environment,
        desired_count=int(spec.get("InitialInstanceCount") or 1),
        desired_weight=float(spec.get("InitialVariantWeight", 1.0)),
        current_weight=0.0,
        deployed_at=now,
    )


def _fetch_archive(store: Store, objects: ObjectStore, account: str, uri: str, dest: Path, what: str) -> None:
    """Download the caller-owned tar.gz at `uri` and extract it safely into `dest`."""
    location = parse_s3_uri(uri)
    check_owned(store, account, location)
    try:
        _, chunks = objects.open_object(location.bucket, location.key)
    except NoSuchObject as exc:
        raise DeployProblem(f"Failed to download {what} from {uri}: the object does not exist.") from exc
    archive = dest.parent / f".{dest.name}.tar.gz"
    try:
        with archive.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        try:
            extract_tar_gz(archive, dest)
        except UnsafeArchive:
            raise
        except Exception as exc:  # a corrupt or non-tar artifact
            raise DeployProblem(
                f"Failed to extract {what} archive from URL {uri}. Please ensure that the object "
                f"located at the URL is a valid tar.gz archive. ({type(exc).__name__}: {exc})"
            ) from exc
    finally:
        archive.unlink(missing_ok=True)
