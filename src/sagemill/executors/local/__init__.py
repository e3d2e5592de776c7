"""Workers as local processes under detached supervisors; see executor.py."""

from sagemill.executors.local.executor import LocalExecutor

__all__ = ["LocalExecutor"]
