"""prepare_model_dir: model.tar.gz extracted safely into the directory the model server loads from."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from sagemill.executors.archives import UnsafeArchive, extract_tar_gz

#: Uncompressed ceiling for one model archive, against decompression bombs.
MAX_MODEL_BYTES = 64 * 1024**3


def prepare_model_dir(tar_path: Path, model_dir: Path, *, max_bytes: int = MAX_MODEL_BYTES) -> list[str]:
    """Extract `tar_path` into an empty `model_dir`; returns the member names.

    Refused archives (absolute paths, `..`, links leaving the directory, devices; see
    sagemill.executors.archives) raise UnsafeArchive and leave no partial model behind.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    if any(model_dir.iterdir()):
        raise FileExistsError(f"model directory {model_dir} is not empty")
    try:
        return extract_tar_gz(Path(tar_path), model_dir, max_bytes=max_bytes)
    except (UnsafeArchive, OSError, EOFError, tarfile.TarError):
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True, exist_ok=True)
        raise
