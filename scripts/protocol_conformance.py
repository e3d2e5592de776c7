#!/usr/bin/env python
"""Run botocore's protocol test vectors in reverse against Sagemill and print a conformance table.

Usage: PYTHONPATH=src .venv/bin/python scripts/protocol_conformance.py [--failures]

Uses the same machinery and skip list as tests/protocol/test_conformance.py. Exit status 1 when an
applicable case fails.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sagemill.testing.protocol_vectors import (  # noqa: E402
    VectorCase,
    excluded_files,
    fetch_vectors,
    load_cases,
    run_case,
)


def _load_skips() -> dict[str, str]:
    path = REPO / "tests" / "protocol" / "test_conformance.py"
    spec = importlib.util.spec_from_file_location("sagemill_protocol_conformance_skips", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.SKIPS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--failures", action="store_true", help="print each failing case's assertion")
    args = parser.parse_args()

    vectors = fetch_vectors(REPO / ".cache" / "botocore-sdist")
    skips = _load_skips()
    cases = load_cases(vectors)
    totals: collections.Counter[tuple[str, str]] = collections.Counter()
    failures: list[tuple[VectorCase, str]] = []
    for case in cases:
        for group in (case.protocol, f"{case.protocol} ({case.kind})"):
            totals[group, "cases"] += 1
        if case.key in skips:
            continue
        outcome = "passed"
        try:
            run_case(case)
        except Exception as exc:
            outcome = "failed"
            failures.append((case, f"{type(exc).__name__}: {exc}"))
        for group in (case.protocol, f"{case.protocol} ({case.kind})"):
            totals[group, "applicable"] += 1
            totals[group, outcome] += 1

    groups = sorted({group for group, _ in totals}, key=lambda g: (g.split(" ")[0], " " in g, g))
    header = f"{'protocol':<24}{'cases':>7}{'applicable':>12}{'passed':>8}{'pass rate':>11}"
    print(header)
    print("-" * len(header))
    for group in groups:
        applicable = totals[group, "applicable"]
        rate = f"{100 * totals[group, 'passed'] / applicable:.1f}%" if applicable else "n/a"
        label = group if " " not in group else f"  {group.split(' ', 1)[1]}"
        print(f"{label:<24}{totals[group, 'cases']:>7}{applicable:>12}{totals[group, 'passed']:>8}{rate:>11}")
    all_cases = len(cases)
    applicable_all = sum(totals[g, "applicable"] for g in groups if " " not in g)
    passed_all = sum(totals[g, "passed"] for g in groups if " " not in g)
    print("-" * len(header))
    rate_all = f"{100 * passed_all / applicable_all:.1f}%" if applicable_all else "n/a"
    print(f"{'all':<24}{all_cases:>7}{applicable_all:>12}{passed_all:>8}{rate_all:>11}")

    print(f"\nVector files not run (from {vectors}):")
    for name, reason in excluded_files(vectors):
        print(f"  {name}: {reason}")
    print(f"\nSkipped cases ({len(skips)}):")
    for key, reason in sorted(skips.items()):
        print(f"  {key}\n      {reason}")
    if failures:
        print(f"\nFailed cases ({len(failures)}):")
        for case, detail in failures:
            print(f"  {case.key}")
            if args.failures:
                print("      " + detail.replace("\n", "\n      "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
