"""What the hall's reference records (halls, windows, staff, items, reason codes) share
when the back office edits them: the error a form shows next to a field, and the
uniqueness check behind "编号已存在"."""
from __future__ import annotations

import sqlalchemy as sa

from .db import db
from .fields import InputError


class FieldError(InputError):
    """A change refused because of one field (``field`` None: the record as a whole).
    The message is Chinese: a form shows it next to the field."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def taken(column: sa.orm.InstrumentedAttribute, value: str, own_id: object = None,
          id_column: sa.orm.InstrumentedAttribute | None = None) -> bool:
    """Whether another record already uses ``value`` in ``column``, ignoring case: a
    hall must not have both "a01" and "A01"."""
    query = sa.select(sa.func.count()).where(sa.func.lower(column) == value.lower())
    if own_id is not None and id_column is not None:
        query = query.where(id_column != own_id)
    return bool(db.session.scalar(query))


def used(*queries: sa.Select) -> bool:
    """Whether any of these ``select(...)`` queries finds a row."""
    return any(db.session.scalar(q.limit(1)) is not None for q in queries)
