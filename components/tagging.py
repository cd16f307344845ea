"""The tags every taggable resource carries, and the checks that keep them complete.

Scripts (backup, validation, health) and auditors find resources by these tags, and cost reports
group by them, so a component refuses tags that lack any of the required keys rather than letting
an untagged resource reach AWS.
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_TAG_KEYS = (
    "Project",
    "Stack",
    "Service",
    "Environment",
    "Owner",
    "DataClassification",
    "Compliance",
)
PLATFORM_SERVICE = "platform"


def base_tags(
    *,
    project: str,
    stack: str,
    environment: str,
    owner: str,
    data_classification: str,
    compliance: tuple[str, ...] | list[str],
    service: str = PLATFORM_SERVICE,
) -> dict[str, str]:
    return {
        "Project": project,
        "Stack": stack,
        "Service": service,
        "Environment": environment,
        "Owner": owner,
        "DataClassification": data_classification,
        # Space-separated: S3 (object and bucket tags) and other services reject commas in values.
        "Compliance": " ".join(compliance),
    }


def for_service(tags: Mapping[str, str], service: str, **extra: str) -> dict[str, str]:
    """The same tags, attributed to another service (and optionally with extra keys)."""
    return {**tags, "Service": service, **extra}


def with_purpose(tags: Mapping[str, str], purpose: str) -> dict[str, str]:
    """Tags plus `Purpose`, which ops scripts use to tell e.g. the backup bucket from the audit one."""
    return {**tags, "Purpose": purpose}


def require_tags(field: str, tags: Mapping[str, str]) -> None:
    """Raise ValueError naming the field and the missing keys; used in every Args.__post_init__."""
    missing = [key for key in REQUIRED_TAG_KEYS if not str(tags.get(key, "")).strip()]
    if missing:
        raise ValueError(
            f"{field}: missing required tag(s) {', '.join(missing)}; every resource needs "
            f"{', '.join(REQUIRED_TAG_KEYS)}"
        )
