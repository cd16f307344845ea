"""What a rule raises instead of returning a verdict: the rule does not apply, or cannot tell yet.

Its own module so `model` (which raises `Unknown` when a value is not known until deploy) and
`registry` (which imports every rule, and so `model`) both depend on it rather than on each other.
`registry` re-exports both names, the way rules import them.
"""

from __future__ import annotations


class NotApplicable(Exception):
    """The rule does not apply to this resource (e.g. a MySQL parameter group for a Postgres rule)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unknown(Exception):
    """A value the rule needs is not known until deploy (a preview of a new resource)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path
