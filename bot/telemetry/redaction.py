"""Replace secrets with ``***`` in any text before it leaves the process."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

MASK = "***"
# Shorter values would mask ordinary words; real tokens and passwords are much longer.
MIN_SECRET_LENGTH = 4


class _HasSecretValue(Protocol):
    def get_secret_value(self) -> str: ...


SecretLike = str | _HasSecretValue | None

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack bot/user/app/config tokens: xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-, xoxe-, xapp-.
    (re.compile(r"\bxox[abposre](?:\.xox[a-z])?-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {MASK}"),
    (
        re.compile(
            r"\b(password|passwd|pwd|client_secret|access_token|refresh_token|sig"
            r"|SharedAccessKey|AccountKey)"
            r"(\s*[=:]\s*)([^&\s\"',;]+)",
            re.IGNORECASE,
        ),
        rf"\1\2{MASK}",
    ),
    # URL userinfo: scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/?#@\s\"']*):([^@/?#\s\"']+)@", re.IGNORECASE),
     rf"\1:{MASK}@"),
)


# Field names whose values are secret whatever they look like.
_SENSITIVE_KEY = re.compile(
    r"(password|passwd|secret|token|authorization|api[_-]?key|credential)", re.IGNORECASE
)


class Redactor:
    """Masks the configured secret values and anything that looks like a credential."""

    def __init__(self, secrets: Iterable[SecretLike] = ()) -> None:
        values = {_unwrap(secret) for secret in secrets}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(
            (value for value in values if len(value) >= MIN_SECRET_LENGTH), key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def scrub(self, value: Any) -> Any:
        """A JSON-ready copy of ``value`` with every string in it redacted."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(key)): self.scrub_field(str(key), item)
                    for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(item) for item in value]
        return self.redact(str(value))

    def scrub_field(self, key: str, value: Any) -> Any:
        """Like :meth:`scrub`, but a field named like a secret is masked whole."""
        if value is not None and _SENSITIVE_KEY.search(key):
            return MASK
        return self.scrub(value)


def _unwrap(secret: SecretLike) -> str:
    if secret is None:
        return ""
    if isinstance(secret, str):
        return secret
    return secret.get_secret_value()
