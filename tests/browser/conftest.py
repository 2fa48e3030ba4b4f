"""The Playwright/Chromium tests drive the whole sandbox (``tests.support.sandbox``)."""

from tests.support.sandbox import eventually, free_port, sandbox, start_sandbox

__all__ = ["eventually", "free_port", "sandbox", "start_sandbox"]
