"""Pulumi's secret envelope, in the one place every reader of previews and exports looks for it.

The engine wraps a secret as {SECRET_SIG: SECRET_VALUE, "value": ...} in a program's requests, and
as {SECRET_SIG: SECRET_VALUE, "ciphertext": ...} in `pulumi stack export`; `pulumi preview --json`
prints it as "[secret]". Kept free of heavy imports: the report and the converter load it too.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
SECRET_TEXT = "[secret]"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def mask_secrets(value: Any) -> Any:
    """Replace every secret by "[secret]", as `pulumi preview --json` prints it."""
    if is_secret(value):
        return SECRET_TEXT
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def unwrap_secrets(value: Any) -> Any:
    """The plain values inside secret wrappers (tests only: never written anywhere)."""
    if is_secret(value):
        return unwrap_secrets(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


# Key names that hold credentials by convention (provider config like `aws:secretKey`,
# `datadog:apiKey`; resource inputs like `password`, `authToken`).
_SECRET_NAME = re.compile(
    r"(secret|password|passwd|token|apikey|api_key|accesskey|access_key|privatekey|"
    r"private_key|credential|passphrase|authkey)",
    re.IGNORECASE,
)
# What a credential looks like when it leaks into a message: AWS access key ids, and long tokens
# mixing letters and digits (API keys, base64 ciphertext). Plain words, URNs and ARNs do not match.
_SECRET_VALUE = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|(?<![\w:/.-])(?=[A-Za-z0-9+/_=-]*[0-9])"
    r"(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{24,}(?![\w:/.-])"
)


def looks_secret_name(name: str) -> bool:
    """Whether a config key or property name conventionally holds a credential."""
    return bool(_SECRET_NAME.search(name.replace("-", "").replace(".", "")))


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by [redacted]: for error lines,
    which must never echo a secret even when the input put one where it did not belong."""
    return _SECRET_VALUE.sub("[redacted]", str(text))
