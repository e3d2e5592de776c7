"""Run the command line with `python -m sagemill`."""

from sagemill.cli.main import main

raise SystemExit(main())
