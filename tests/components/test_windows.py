from tests.components.windows import daily_and_weekly_windows_overlap


def test_the_window_check_tells_overlap_from_adjacency():
    assert daily_and_weekly_windows_overlap("05:00-06:00", "sun:05:30-sun:06:30")
    assert daily_and_weekly_windows_overlap("05:00-06:00", "mon:04:00-mon:07:00")
    assert not daily_and_weekly_windows_overlap("03:00-04:00", "sun:04:00-sun:05:00")
