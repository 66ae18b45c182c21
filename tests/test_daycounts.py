"""A counts row added to batch by batch, as a load's commits add to it, holds what the
day's events give counted at once. The expected row is worked out here from the event
times alone: its quarters blob with struct, its hours and offset hours by counting."""
from __future__ import annotations

import random
import struct

import pytest

from ccaudit import daycounts

DAY = 19_850 * 86_400  # 2024-05-08
QUARTER_US = 900 * 10**6


def quarters_of(times: list[int]) -> dict[int, list]:
    """quarter of the day -> [n, first µs, last µs], as a load's batch gives them."""
    out: dict[int, list] = {}
    for t in times:
        c = out.setdefault((t - DAY * 10**6) // QUARTER_US, [0, t, t])
        c[0] += 1
        c[1], c[2] = min(c[1], t), max(c[2], t)
    return out


def expected(times: list[int], with_hours: bool) -> tuple:
    start = DAY * 10**6
    by_quarter = quarters_of(times)
    blob = b"".join(struct.pack("<4I", q, n, first - start - q * QUARTER_US, last - start - q * QUARTER_US)
                    for q, (n, first, last) in sorted(by_quarter.items()))
    if not with_hours and len(by_quarter) <= daycounts.SPARSE:
        return len(times), min(times), max(times), b"", b"", blob
    hours = [0] * 24
    offset = [0] * 75  # hour k of offset o (1..3): from quarter 4(k - 1) + o to 4k + o - 1
    for t in times:
        q = (t - start) // QUARTER_US
        hours[q // 4] += 1
        for o in (1, 2, 3):
            offset[25 * (o - 1) + (q - o) // 4 + 1] += 1
    return (len(times), min(times), max(times), struct.pack("<24I", *hours), struct.pack("<75I", *offset), blob)


def event_times(seed: int, count: int, quarters: list[int]) -> list[int]:
    rng = random.Random(seed)
    return sorted(DAY * 10**6 + rng.choice(quarters) * QUARTER_US + rng.randrange(QUARTER_US) for _ in range(count))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("with_hours", [False, True])
def test_a_row_added_to_batch_by_batch_is_the_day_counted_at_once(seed, with_hours):
    # batches in time order (a load's commits), sometimes of a quarter already stored
    rng = random.Random(seed)
    times = event_times(seed, rng.randrange(2, 60), rng.sample(range(96), rng.randrange(1, 12)))
    cuts = sorted(rng.sample(range(1, len(times)), rng.randrange(0, min(5, len(times) - 1))))
    batches = [times[a:b] for a, b in zip([0, *cuts], [*cuts, len(times)])]
    row = expected(batches[0], with_hours)  # a stored row with hours: as layouts 8 and 4-7 brought forward keep them
    for i, batch in enumerate(batches[1:], 1):
        row = daycounts.added(DAY, quarters_of(batch), row)
        # a batch that shares the stored row's last quarter is merged, and the row then keeps
        # hours only if it has more than SPARSE quarters
        with_hours = with_hours and min(quarters_of(batch)) > max(quarters_of(batches[i - 1]))
        assert row == expected(times[:sum(map(len, batches[:i + 1]))], with_hours)


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_of_earlier_quarters_is_merged_into_the_row(seed):
    # a dump loaded after a later one: its quarters come before, or among, the stored ones
    later = event_times(seed, 10, [40, 41, 60])
    earlier = event_times(seed + 100, 8, [3, 40, 41])
    row = daycounts.added(DAY, quarters_of(earlier), expected(later, False))
    assert row == expected(sorted(later + earlier), False)


def test_adding_to_stored_hours_of_a_wrong_size_is_an_error():
    # a store edited by hand: the load names it damaged (tests/test_refused_values.py)
    n, first, last, _, offset, blob = expected(event_times(1, 9, list(range(8))), True)
    with pytest.raises(ValueError):
        daycounts.added(DAY, quarters_of([last + QUARTER_US]), (n, first, last, b"\0" * 92, offset, blob))
