"""Helpers shared by the benchmarks: timing, percentiles, tables, verdicts, a PostgreSQL schema.

Every benchmark compares against a baseline measured in the same run (the machine is noisy),
prints its figures and ends with one ``VERDICT: PASS …`` or ``VERDICT: FAIL …`` line; the
exit code is 0 on PASS and 1 on FAIL so ``make bench`` stops at a regression.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# `python bench/x.py` puts bench/ first on sys.path; the bot package sits in the repo root.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))

# The helpers the tests use too (free_port, postgres_schema, signed, …): tests/support.
from tests.support import POSTGRES_TEST_URL, free_port, postgres_schema  # noqa: E402

__all__ = ["POSTGRES_TEST_URL", "REPO_ROOT", "argument_parser", "free_port", "header", "median",
           "parse_args", "percentile", "postgres_base_url", "postgres_schema", "table", "timed",
           "verdict"]


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes (``--quick``); a benchmark may add its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smaller run (for CI smoke)")
    return parser


def parse_args(description: str) -> argparse.Namespace:
    return argument_parser(description).parse_args()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank; values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(fn: Callable[[], object], repeat: int, warmup: int = 20) -> list[float]:
    """Wall-clock milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def header(title: str, quick: bool) -> None:
    print(f"== {title}{' (quick)' if quick else ''}")
    print(f"   {machine()}")


def verdict(failures: Sequence[str], summary: str) -> int:
    """Print the one-line verdict; returns the exit code."""
    if failures:
        print(f"VERDICT: FAIL {summary}; " + "; ".join(failures))
        return 1
    print(f"VERDICT: PASS {summary}")
    return 0


def postgres_base_url() -> str | None:
    url = os.environ.get(POSTGRES_TEST_URL)
    if not url:
        print(f"-- PostgreSQL skipped: {POSTGRES_TEST_URL} is not set")
    return url or None


if __name__ == "__main__":
    # `make bench` runs every bench/*.py; this file only holds helpers.
    sys.exit(0)


def installed_serve_env(slack_api_url: str, cwd: Path, port: int) -> dict[str, str]:
    """What ``failover-bot serve`` from the installed wheel needs to start against a fake
    Slack, with a SQLite file in ``cwd``; the Azure identity is made up (idle, the bot asks
    Azure nothing)."""
    from failover_sandbox.slack_api import SANDBOX_TOKEN

    return {"SLACK_BOT_TOKEN": SANDBOX_TOKEN, "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": slack_api_url, "DATABASE_URL": f"sqlite:///{cwd / 'bot.db'}",
            "PORT": str(port), "AZURE_SUBSCRIPTION_ID": "91d12660-3dec-467a-be2a-213b5544ddc0",
            "AZURE_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
            "AZURE_CLIENT_SECRET": "made-up"}
