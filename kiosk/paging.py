"""One page of a back-office list, shaped like Flask-SQLAlchemy's ``Pagination`` so
every list pages through the one macro (admin/templates/admin/_pager.html)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from .db import db


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def fetch(ordered: sa.Select, total: int, number: int, per_page: int) -> Page:
    """Page ``number`` (brought within 1…last) of the rows of ``ordered``, of which
    there are ``total``."""
    number = min(max(1, number), max(1, math.ceil(total / per_page)))
    items = db.session.scalars(ordered.offset((number - 1) * per_page)
                               .limit(per_page)).unique().all()
    return Page(list(items), total, number, per_page)
