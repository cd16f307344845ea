"""Checks on AWS maintenance windows, as RDS and ElastiCache spell them."""


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def daily_and_weekly_windows_overlap(daily: str, weekly: str) -> bool:
    """`03:00-04:00` (every day) against `sun:05:00-sun:06:00`: only the time of day matters."""
    d_start, d_end = (_minutes(t) for t in daily.split("-"))
    w_start, w_end = (_minutes(t[4:]) for t in weekly.split("-"))
    return d_start < w_end and w_start < d_end
