"""Time in the hall: parsing, the hall timezone, and the naive-UTC storage convention."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(moment: datetime, tz: ZoneInfo) -> datetime:
    """A naive UTC timestamp for storage; naive input is read as hall-local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_local(stored: datetime, tz: ZoneInfo) -> datetime:
    """A stored naive-UTC timestamp as an aware hall-local one."""
    return stored.replace(tzinfo=UTC).astimezone(tz)


def format_local(moment: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored naive-UTC timestamp as the hall reads it ("" for None); an aware one
    is shown in the hall's zone too. The one way every page and export writes a time."""
    if moment is None:
        return ""
    local = to_local(moment, tz) if moment.tzinfo is None else moment.astimezone(tz)
    return local.strftime(fmt)


def parse_timestamp(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 text (``Z`` or an offset; none means hall time) as naive UTC.

    Raises ValueError with a readable message.
    """
    try:
        return to_utc(datetime.fromisoformat(text.strip()), tz)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from None
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def day_start_utc(day: date, tz: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in the hall, as naive UTC."""
    return to_utc(datetime.combine(day, time()), tz)


def day_range_utc(first: date | None, last: date | None,
                  tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """[start of ``first``, start of the day after ``last``) in naive UTC; None is open."""
    start = day_start_utc(first, tz) if first else None
    end = day_start_utc(last + timedelta(days=1), tz) if last else None
    return start, end
