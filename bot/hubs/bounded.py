"""Reads from Azure held within bounds: a person waits for most of them, and ARM's read quota is
the subscription's, shared with everything else in it.

One read (a hub, the hub list, a hub's Activity Log, metrics) gets:

- a **deadline** for the whole read, every page included, on the injected clock: each request
  is sent with connect and read timeouts no longer than the time left (azure-core's
  ``raw_request_hook``, called for every request of a generated operation, pages too), and
  none is sent once it has passed;
- a **page cap**, and a ``nextLink`` that points back to a page already read ends the read at
  once: an endless pager costs a bounded number of requests;
- a **malformed answer** (JSON that is not JSON, a field of the wrong type, a missing one) is
  not the bot's failure: like a timeout or a repeated page, it becomes
  :class:`~bot.hubs.gateway.CouldNotRead`, a ``GatewayError`` that every caller already turns
  into its labelled fallback (the bot's own count, a clear refusal), never "something went wrong".

Usage (the SDK call and the mapping of its answer both inside the block)::

    with bounded_read("the Activity Log of `hub-a`", clock, ReadLimits(5.0)) as read:
        events = read.pages(client.activity_logs.list(filter=…, **read.options()))
        operations = fold(events)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    DecodeError,
    DeserializationError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.core.paging import ItemPaged
from azure.core.pipeline import PipelineRequest

from bot.domain.clock import Clock
from bot.hubs._azure_errors import from_azure_error
from bot.hubs.gateway import CouldNotRead, GatewayError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DEADLINE = 5.0  # seconds (BOT_AZURE_READ_DEADLINE)
DEFAULT_MAX_PAGES = 50
CONNECT_TIMEOUT = 10.0  # never longer than the time left, either
# What a body of the wrong shape raises: from the SDK's deserializer (DeserializationError is a
# ValueError) or from the bot's own mapping of the models it built.
_MALFORMED = (DeserializationError, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class ReadLimits:
    deadline: float = DEFAULT_DEADLINE  # seconds for the whole read
    max_pages: int = DEFAULT_MAX_PAGES  # requests one pager may make


class BoundedRead:
    """One read's clock and limits; :func:`bounded_read` makes it and translates its errors."""

    def __init__(self, what: str, clock: Clock, limits: ReadLimits) -> None:
        self.what = what
        self.limits = limits
        self._clock = clock
        self._ends = clock.now() + timedelta(seconds=limits.deadline)

    def remaining(self) -> float:
        """Seconds left before the deadline (0 or less: passed)."""
        return (self._ends - self._clock.now()).total_seconds()

    def options(self) -> dict[str, Any]:
        """Keyword arguments for a generated SDK operation: no retry sleeps, and each request
        it sends (every page) with timeouts clipped to the time left."""
        return {"retry_total": 0, "raw_request_hook": self._before_send,
                "connection_timeout": min(CONNECT_TIMEOUT, self.limits.deadline),
                "read_timeout": self.limits.deadline}

    def pages(self, pager: ItemPaged[T]) -> list[T]:
        """Every item of ``pager``, within the page cap; a repeated ``nextLink`` ends it."""
        items: list[T] = []
        seen: set[str] = set()
        pages = pager.by_page()
        for page in pages:
            items.extend(page)
            token = getattr(pages, "continuation_token", None)
            if not token:
                return items
            if token in seen:
                raise self.unusable("RepeatedPage", "Azure sent the same page again")
            seen.add(token)
            if len(seen) >= self.limits.max_pages:
                raise self.unusable("TooManyPages",
                                    f"it went on past {self.limits.max_pages} pages")
        return items

    def too_slow(self) -> CouldNotRead:
        return self.unusable("ReadDeadline", f"no answer within {self.limits.deadline:g}s")

    def unusable(self, code: str, reason: str, detail: str = "") -> CouldNotRead:
        log.warning("%s not read: %s (%s)%s", self.what, reason, code,
                    f": {detail[:200]}" if detail else "")
        return CouldNotRead(f"{_capitalised(self.what)} could not be read: {reason}.",
                            code=code, reason=reason)

    def _before_send(self, request: PipelineRequest[Any]) -> None:
        left = self.remaining()
        if left <= 0:
            raise self.too_slow()
        options = request.context.options
        options["connection_timeout"] = min(float(options.get("connection_timeout", left)), left)
        options["read_timeout"] = min(float(options.get("read_timeout", left)), left)


@contextmanager
def bounded_read(what: str, clock: Clock, limits: ReadLimits) -> Iterator[BoundedRead]:
    """A read of ``what`` (said to people: "the hub list", "the Activity Log of `hub-a`");
    anything raised inside becomes a ``GatewayError``."""
    read = BoundedRead(what, clock, limits)
    try:
        yield read
    except GatewayError:
        raise
    except (ServiceRequestTimeoutError, ServiceResponseTimeoutError) as err:
        raise read.too_slow() from err
    except DecodeError as err:  # a 200 whose body is not JSON
        raise read.unusable("MalformedAnswer", "its answer was not JSON") from err
    except AzureError as err:
        if read.remaining() <= 0:
            raise read.too_slow() from err
        raise from_azure_error(err, clock.now()) from err
    except _MALFORMED as err:
        # The log says which field (the start of the error's text); people need not.
        raise read.unusable("MalformedAnswer", "its answer was not in the shape Azure documents",
                            f"{type(err).__name__}: {err}") from err


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
