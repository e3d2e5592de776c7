"""CLI: `python -m sagemill.serving.model_server --model-dir DIR --port PORT [--host H] --kind KIND`.

Contract with the platform (which extracts model.tar.gz into DIR first, see prepare_model_dir, and installs
code/requirements.txt into the environment: this process installs nothing):

- stdout: a start-up line, a "model loaded ... ready" line, one line per failed request, shutdown lines;
  successful requests are not logged.
- GET /ping: 503 while the model loads, 200 once it is loaded. POST /invocations. GET /execution-parameters.
- Exit status: 0 after SIGTERM/SIGINT (in-flight requests finish first, up to --grace seconds);
  1 when the model fails to load or the port cannot be bound, with the reason on stderr.
- Environment (the container contract plus the model's Environment, passed through by the platform):
  SAGEMAKER_PROGRAM (default inference.py), SAGEMAKER_SUBMIT_DIRECTORY (a local directory; else
  DIR/code), SAGEMAKER_INFERENCE_OUTPUT (XGBoost selectable outputs), SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
  (text/csv for XGBoost, application/json otherwise), SAGEMAKER_MODEL_SERVER_TIMEOUT (seconds per script
  mode request, default 60), SAGEMAKER_MAX_PAYLOAD_IN_MB (default 6; larger bodies get 413).
- Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS default to 1 here, before numpy or
  xgboost is imported (OpenMP reads them once, at load). One small request gains nothing from more
  threads and OpenMP barriers stall when another process holds the other cores; scale with more
  instances instead. A model's Environment may set them to override.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402  (the thread settings above must precede every import that may load numpy)
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

KINDS = ("xgboost", "kmeans", "linear-learner", "sklearn", "pytorch", "script")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sagemill.serving.model_server", description=__doc__)
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--grace", type=float, default=5.0, help="seconds in-flight requests get on SIGTERM")
    args = parser.parse_args(argv)
    if not args.model_dir.is_dir():
        sys.stderr.write(f"Failed to load the model: model directory {args.model_dir} does not exist\n")
        return 1
    timeout = float(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or 60)

    from sagemill.serving.model_server.loading import loader
    from sagemill.serving.model_server.server import serve

    return serve(loader(args.kind, args.model_dir), args.host, args.port, timeout=timeout, grace=args.grace)


if __name__ == "__main__":
    sys.exit(main())
