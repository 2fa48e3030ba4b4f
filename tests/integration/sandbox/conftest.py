"""The sandbox's console API, on the whole sandbox in-process (``tests.support.sandbox``)."""

from tests.support.sandbox import eventually, free_port, sandbox, start_sandbox

__all__ = ["eventually", "free_port", "sandbox", "start_sandbox"]
