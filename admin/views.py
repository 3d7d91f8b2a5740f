"""Imports every area of the back office so its routes land on the blueprint."""
from . import audit, auth, charts, dashboard, league, suggestions, users  # noqa: F401
from . import catalog, manage, qr, staff, windows  # noqa: F401  (窗口与人员)
from . import calendar  # noqa: F401  (节假日安排)
from . import devices  # noqa: F401  (平板与设备)
from . import followups  # noqa: F401  (回访整改)
from . import integrity  # noqa: F401  (评价核查)
from . import alerts  # noqa: F401  (工作群提醒)
from . import reports  # noqa: F401  (月度通报)
from . import surveys  # noqa: F401  (问卷调查)
