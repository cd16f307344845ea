"""Rules grouped by domain; importing this package registers every rule."""

from tradesense_policies.rules import (  # noqa: F401
    audit,
    database,
    edge,
    encryption,
    exposure,
    iam,
    monitoring,
    recovery,
    tagging,
    transit,
)
