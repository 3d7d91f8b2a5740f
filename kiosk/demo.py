"""A demo county hall with several weeks of ratings, so every page has something to show."""
from __future__ import annotations

import io
import random
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, items, phonekeys, surveys
from .db import db, utcnow
from .imports import DutyRoster, store_rating_rows
from .models import Department, Duty, Hall, Staff, Suggestion, Window
from .scale import MISUSE, SUSPECT, UNPROMPTED

HALL = "清河县政务服务中心"
# department -> [(window code, window name, staff no, staff name, duties, quality)]
# quality: the share of ratings that are 非常满意/满意; the rest spread downwards.
LAYOUT: dict[str, list[tuple[str, str, str, str, str, float]]] = {
    "县政务服务中心": [
        ("A01", "综合受理窗口（一）", "QH0101", "张丽", "综合受理、材料预审、咨询导办", 0.93),
        ("A02", "综合受理窗口（二）", "QH0102", "王伟", "综合受理、帮办代办、出件", 0.90),
    ],
    "县市场监督管理局": [
        ("B01", "企业开办窗口", "QH0201", "李娜", "企业设立、变更、注销登记", 0.95),
        ("B02", "食品经营许可窗口", "QH0202", "刘洋", "食品经营许可证核发、延续", 0.86),
    ],
    "县人力资源和社会保障局": [
        ("C01", "社保参保登记窗口", "QH0301", "陈静", "社会保险参保登记、个人权益记录查询", 0.88),
        ("C02", "就业创业服务窗口", "QH0302", "杨帆", "就业登记、失业保险金申领、创业担保贷款", 0.91),
    ],
    "县医疗保障局": [
        ("C03", "医保经办窗口", "QH0401", "赵敏", "医保参保、异地就医备案、零星报销", 0.84),
    ],
    "县不动产登记中心": [
        ("D01", "不动产登记受理窗口", "QH0501", "黄磊", "不动产首次登记、转移登记受理", 0.78),
        ("D02", "缴费领证窗口", "QH0502", "周婷", "登记费缴纳、不动产权证书发放", 0.87),
    ],
    "国家税务总局清河县税务局": [
        ("E01", "税费综合服务窗口", "QH0601", "吴刚", "发票领用、税费申报、社保费缴纳", 0.89),
    ],
    "县住房公积金管理中心": [
        ("E02", "公积金提取窗口", "QH0701", "徐芳", "公积金提取、贷款咨询", 0.92),
    ],
    "县公安局": [
        ("F01", "户籍业务窗口", "QH0801", "孙浩", "户口迁移、身份证办理", 0.90),
        ("F02", "出入境业务窗口", "QH0802", "马丽娟", "护照、港澳通行证办理", 0.94),
    ],
    "县民政局": [
        ("F03", "婚姻登记窗口", "QH0901", "朱军", "结婚登记、离婚登记、补领婚姻登记证", 0.97),
    ],
}
# Shift changes two weeks ago, so duty history shows on the demo windows.
RELIEF = {"A02": ("QH0103", "胡晓燕", "综合受理、帮办代办、出件"),
          "D01": ("QH0503", "郭强", "不动产首次登记、转移登记受理")}

BAD_COMMENTS = {
    "attitude": ["工作人员态度生硬，问两句就不耐烦", "说话很冲，解释不清楚"],
    "efficiency": ["一个简单业务办了快一个小时", "系统老是卡，办得太慢"],
    "competence": ["问了三个问题都答不上来，要去问别人", "材料审核标准前后说法不一样"],
    "guidance": ["上次没说要带户口本，白跑一趟", "材料清单没有一次说清楚，跑了两次"],
    "timeliness": ["说好五个工作日，十天了还没办好", "承诺时限已过仍未出件"],
    "waiting": ["排队等了一个多小时", "取号后等了很久，窗口只开了一个"],
    "facilities": ["大厅空调太冷，座位不够", "自助机坏了没人修"],
    "other": ["停车太难了", "希望周末也能办理"],
}
MIDDLING = ["还可以，就是等的时间有点长", "希望材料能再少一点", "", "", ""]
PRAISE = ["态度很好，讲解耐心，一次就办好了", "效率高，十分钟办完", "帮我老人家填表，谢谢", "",
          "", "", "", ""]
SUGGESTIONS = [
    ("A01", "建议在大厅增加老年人专用座椅和老花镜。"),
    (None, "希望中午也能安排窗口值班，上班族只有午休有时间。"),
    ("D01", "不动产登记能否实现网上预约，减少现场排队？"),
    (None, "停车场车位太少，建议和旁边单位共享停车位。"),
    ("C03", "异地就医备案的流程能不能做个图解贴在窗口？"),
]
WEEKS = 6
OPENING = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))


def seed_demo(tz: ZoneInfo, today: date | None = None, seed: int = 20261127) -> int:
    """Create the demo hall and its history; returns how many ratings were made.

    Refuses (ValueError) unless the database has no windows yet. Flushes; the caller
    commits.
    """
    if db.session.scalar(sa.select(sa.func.count()).select_from(Window)):
        raise ValueError("the database already has windows; the demo needs an empty one")
    rng = random.Random(seed)
    now = utcnow()
    today = today or clock.to_local(now, tz).date()
    first_day = today - timedelta(weeks=WEEKS, days=today.weekday())
    history_start = clock.day_start_utc(first_day - timedelta(days=30), tz)
    relief_start = clock.day_start_utc(today - timedelta(weeks=2), tz)

    hall = Hall(name=HALL, address="清河县人民路88号")
    db.session.add(hall)
    windows: list[tuple[Window, float]] = []
    duties: list[Duty] = []
    for dept_name, rows in LAYOUT.items():
        dept = Department(hall=hall, name=dept_name)
        db.session.add(dept)
        for code, name, staff_no, staff_name, duty_text, quality in rows:
            window = Window(code=code, name=name, hall=hall, department=dept)
            clerk = Staff(staff_no=staff_no, name=staff_name, department=dept,
                          duties=duty_text)
            first = Duty(window=window, staff=clerk, started_at=history_start)
            duties.append(first)
            if code in RELIEF:
                r_no, r_name, r_duties = RELIEF[code]
                relief = Staff(staff_no=r_no, name=r_name, department=dept,
                               duties=r_duties)
                first.ended_at = relief_start
                duties.append(Duty(window=window, staff=relief, started_at=relief_start))
            windows.append((window, quality))
    db.session.add_all(duties)
    db.session.flush()

    roster = DutyRoster(duties)
    params = []
    day = first_day
    while day <= today:
        if day.weekday() < 5:
            for window, quality in windows:
                for _ in range(rng.randint(6, 22)):
                    tapped = _tap_time(rng, day, tz)
                    if tapped > now:
                        continue
                    params.append(_rating(rng, window, quality, tapped, roster, now))
        day += timedelta(days=1)
    params += _integrity_examples(rng, dict((w.code, w) for w, _ in windows), roster, tz,
                                  today, now)
    store_rating_rows(db.session.connection(), params, tz)

    codes = {w.code: w.id for w, _ in windows}
    for i, (code, text) in enumerate(SUGGESTIONS):
        when = now - timedelta(days=3 * i + 1, hours=rng.randint(0, 6))
        db.session.add(Suggestion(window_id=codes.get(code), text=text, channel="kiosk",
                                  created_at=when, received_at=when))
    db.session.flush()
    _follow_up(rng, tz, now, today)
    items.import_items(io.StringIO(ITEMS))
    _questionnaire(rng, tz, now, today, [w for w, _ in windows])
    return len(params)


# Who works the demo's cases. Not accounts (the demo creates none, so the first
# `kiosk serve` still makes the admin): the history names them and no one signs in.
DEMO_CALLER = ("回访员-小周", "caller")
DEMO_SUPERVISOR = ("督查员-老陈", "supervisor")
CALL_NOTES = {"reached": ["已联系群众，说明情况并致歉", "群众表示理解，已告知整改措施"],
              "no_answer": ["无人接听，稍后再拨", "响铃无人接听"],
              "wrong_number": ["号码为空号"], "refused": ["群众不愿接受回访"]}
CHECKS = [("调阅窗口监控，工作人员解释不够耐心", "已约谈当事人，组织窗口礼仪培训"),
          ("核实为系统故障导致办理缓慢", "已联系信息中心修复，增设应急受理通道"),
          ("核实办理流程符合规定，群众对材料要求有误解", "在窗口张贴材料清单图解"),
          ("高峰时段只开一个窗口，群众等候较久", "高峰时段增开潮汐窗口")]


def _follow_up(rng: random.Random, tz: ZoneInfo, now: datetime, today: date) -> None:
    """Open the cases the demo ratings call for and move them through their lives, so
    the call list shows every state: closed with each outcome, in progress, open and
    due, overdue, an upheld appeal, a pending one, and a ruling that was reversed."""
    from . import followups
    from .caseopen import open_cases
    from .models import FollowupCase, Rating, User

    open_cases(db.session, db.session.scalars(sa.select(Rating.id).order_by(Rating.id)))
    cases = db.session.scalars(sa.select(FollowupCase).order_by(FollowupCase.rated_at,
                                                                FollowupCase.id)).all()
    caller = User(username=DEMO_CALLER[0], role=DEMO_CALLER[1])
    supervisor = User(username=DEMO_SUPERVISOR[0], role=DEMO_SUPERVISOR[1])
    heads: dict[int, User] = {}

    def head(case: FollowupCase) -> User:
        dept = case.window.department
        if dept.id not in heads:
            heads[dept.id] = User(username=f"{dept.name}负责人", role="department",
                                  department_id=dept.id)
        return heads[dept.id]

    def at(case: FollowupCase, hours: float) -> datetime:
        return min(case.rated_at + timedelta(hours=hours), now - timedelta(minutes=5))

    def call(case: FollowupCase, result: str, hours: float) -> None:
        followups.record_attempt(case, caller, result, rng.choice(CALL_NOTES[result]),
                                 now=at(case, hours))

    appeals = {"upheld": None, "pending": None, "reversed": None}
    for case in cases:
        age = (today - clock.to_local(case.rated_at, tz).date()).days
        roll = rng.random()
        if case.rated_at > now - timedelta(days=1) or (age <= 3 and roll < 0.5):
            continue  # new: open, not yet due (or due today)
        if case.kind != "sample" and roll < 0.04 and age > 5:
            # Late: never contacted (overdue), or contacted and stuck past resolve_due.
            if case.kind == "callback" and rng.random() < 0.5:
                call(case, "no_answer", 3)
            continue
        bad = case.kind != "sample"
        kind = next((k for k, v in appeals.items() if v is None), None)
        if bad and kind and age > 10 and roll > 0.9:
            dept = head(case)
            followups.record_rectification(case, dept, "调阅监控并询问当事窗口人员",
                                           None, now=at(case, 4))
            appeal = followups.file_appeal(case, dept, "监控显示群众未办理业务即连续点击"
                                           "差评，属误评，申请复核", now=at(case, 5))
            appeals[kind] = appeal
            if kind in ("upheld", "reversed"):
                followups.rule_appeal(appeal, supervisor, True, "经查看监控属实，申诉成立",
                                      now=at(case, 30))
            if kind == "reversed":
                followups.reverse_ruling(appeal, supervisor, "群众来电补充说明确有不满，"
                                         "撤销原结论", now=at(case, 50))
            continue
        if case.kind == "callback":
            if roll < 0.12:
                call(case, "no_answer", 2)
                call(case, "no_answer", 6)
                if age > 4:
                    followups.close(case, caller, "unreachable", "两次未接通", now=at(case, 26))
                continue
            call(case, "reached", 2)
        elif case.kind == "sample":
            call(case, "reached", 3)
            followups.close(case, caller, "sample_confirmed" if roll < 0.9
                            else "sample_disputed", now=at(case, 4))
            continue
        if age < 5 and roll < 0.7:
            continue  # in progress: the department is still on it
        verified, changed = rng.choice(CHECKS)
        followups.record_rectification(case, head(case), verified, changed, now=at(case, 24))
        if case.kind == "callback":
            followups.record_citizen_view(case, caller, "satisfied" if roll < 0.85
                                          else "unsatisfied", now=at(case, 48))
            followups.close(case, caller, "resolved" if roll < 0.7 else "explained",
                            now=at(case, 49))
        else:
            followups.close(case, head(case), "no_fault" if roll < 0.3 else "resolved",
                            now=at(case, 30))


def _tap_time(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    opens, closes = OPENING[rng.random() < 0.5]
    start = datetime.combine(day, opens)
    span = (datetime.combine(day, closes) - start).total_seconds()
    return clock.to_utc(start + timedelta(seconds=rng.uniform(0, span)), tz)


def _rating(rng: random.Random, window: Window, quality: float, tapped: datetime,
            roster: DutyRoster, now: datetime) -> dict:
    roll = rng.random()
    if roll < quality:
        score = 5 if rng.random() < 0.75 else 4
    elif roll < quality + (1 - quality) * 0.45:
        score = 3
    else:
        score = 2 if rng.random() < 0.6 else 1
    reasons: list[str] = []
    comment: str | None = None
    phone = None
    if score <= 2:
        reasons = rng.sample(list(BAD_COMMENTS), k=rng.choice((1, 1, 2)))
        if rng.random() < 0.7:
            comment = rng.choice(BAD_COMMENTS[reasons[0]])
        if rng.random() < 0.6:
            phone = "1" + rng.choice("3578") + "".join(rng.choice("0123456789")
                                                       for _ in range(9))
    elif score == 3:
        comment = rng.choice(MIDDLING) or None
    else:
        comment = rng.choice(PRAISE) or None
        if rng.random() < 0.08:
            phone = "13" + "".join(rng.choice("0123456789") for _ in range(9))
    channel = "qr" if rng.random() < 0.2 else "kiosk"
    return {
        "client_id": f"demo-{rng.getrandbits(64):016x}",
        "window_id": window.id,
        "staff_id": roster.staff_at(window.id, tapped),
        "score": score,
        "channel": channel,
        "reasons": ";".join(reasons),
        "comment": comment,
        "phone": phonekeys.keyring().seal(phone) if phone else None,  # sealed at rest
        "ticket": f"{window.code}{rng.randint(1, 120):03d}",
        "created_at": tapped,
        "received_at": min(tapped + timedelta(seconds=rng.randint(0, 3)), now),
        "counted": True,
        # No queue system in the demo hall: every kiosk tap is unprompted (一次一评).
        "flags": UNPROMPTED if channel == "kiosk" else "",
    }


def _integrity_examples(rng: random.Random, windows: dict[str, Window], roster: DutyRoster,
                        tz: ZoneInfo, today: date, now: datetime) -> list[dict]:
    """What the review page (评价核查) is for, as kiosk/integrity.py would have flagged
    it: a burst of 非常满意 at one window within minutes, no service event behind them
    (suspect, counted until a supervisor decides), and a child's repeated presses on one
    tablet (the first counts; the rest are misuse)."""
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    rows = []
    burst_at = clock.to_utc(datetime.combine(day, time(10, 5)), tz)
    for i in range(7):
        row = _rating(rng, windows["B02"], 1.0, burst_at + timedelta(seconds=70 * i),
                      roster, now)
        row.update(score=5, channel="kiosk", comment=None, phone=None,
                   flags=f"{UNPROMPTED};{SUSPECT}")
        rows.append(row)
    mashed_at = clock.to_utc(datetime.combine(day, time(14, 20)), tz)
    for i in range(4):
        row = _rating(rng, windows["C01"], 0.0, mashed_at + timedelta(seconds=4 * i),
                      roster, now)
        row.update(score=1, channel="kiosk", reasons="", comment=None, phone=None,
                   counted=i == 0, flags=UNPROMPTED if i == 0 else f"{UNPROMPTED};{MISUSE}")
        rows.append(row)
    return [r for r in rows if r["created_at"] <= now]


# 事项公示: the items the demo's windows handle (kiosk import-items' CSV).
ITEMS = """code,name,department,time_limit_days,documents,windows
QH-ZH-001,综合咨询与导办,县政务服务中心,0,,A01 A02
QH-ZH-002,帮办代办,县政务服务中心,0,身份证,A02
QH-SJ-001,企业设立登记,县市场监督管理局,1,申请书;章程;股东身份证明;住所证明,B01
QH-SJ-002,企业注销登记,县市场监督管理局,3,申请书;清税证明,B01
QH-SJ-101,食品经营许可证核发,县市场监督管理局,10,申请书;经营场所平面图;食品安全管理制度,B02
QH-RS-001,社会保险参保登记,县人力资源和社会保障局,0,身份证,C01
QH-RS-002,个人权益记录查询打印,县人力资源和社会保障局,0,身份证,C01
QH-RS-101,失业保险金申领,县人力资源和社会保障局,5,身份证;银行卡,C02
QH-YB-001,异地就医备案,县医疗保障局,0,身份证;医保电子凭证,C03
QH-YB-002,零星医疗费用报销,县医疗保障局,20,发票;费用清单;病历,C03
QH-BDC-001,不动产首次登记,县不动产登记中心,5,申请书;身份证明;不动产权属来源证明,D01
QH-BDC-002,不动产转移登记,县不动产登记中心,5,申请书;身份证明;不动产权证书;完税凭证,D01
QH-BDC-101,不动产权证书发放,县不动产登记中心,0,受理回执;身份证,D02
QH-SW-001,发票领用,国家税务总局清河县税务局,0,身份证,E01
QH-GJJ-001,住房公积金提取,县住房公积金管理中心,3,身份证;提取证明材料,E02
QH-GA-001,户口迁移,县公安局,5,户口簿;身份证;准迁证明,F01
QH-GA-101,普通护照签发,县公安局,7,身份证;照片,F02
QH-MZ-001,结婚登记,县民政局,0,双方户口簿;身份证;照片,F03
"""

# A questionnaire with three weeks of answers, so the results page has something to
# show (the one CONTRACT.md sketches).
QUESTIONNAIRE = {
    "slug": "demo", "title": "办事群众满意度问卷",
    "intro": "耽误您一分钟：您的意见会送达服务监督部门，帮助我们改进大厅服务。",
    "offered": ["qr", "kiosk"],
    "questions": [
        {"id": "q1", "type": "scale", "text": {"zh": "您对大厅整体服务是否满意？",
                                                "en": "How satisfied are you with the hall?"},
         "required": True},
        {"id": "q2", "type": "single", "required": True,
         "text": {"zh": "您本次办事跑了几次？", "en": "How many visits did this take?"},
         "options": [{"id": "a", "text": {"zh": "一次", "en": "One"}},
                     {"id": "b", "text": {"zh": "两次", "en": "Two"}},
                     {"id": "c", "text": {"zh": "三次及以上", "en": "Three or more"}}]},
        {"id": "q3", "type": "multi",
         "text": {"zh": "您希望改进哪些方面？", "en": "What should improve?"},
         "options": [{"id": "wait", "text": {"zh": "等候时间", "en": "Waiting time"}},
                     {"id": "guide", "text": {"zh": "办事指引", "en": "Guidance"}},
                     {"id": "docs", "text": {"zh": "材料精简", "en": "Fewer documents"}},
                     {"id": "online", "text": {"zh": "网上办理", "en": "Online services"}}]},
        {"id": "q4", "type": "text", "text": {"zh": "其他意见和建议", "en": "Anything else?"}},
    ]}
QUESTIONNAIRE_TEXTS = ["希望增加周末延时服务", "自助打印机经常缺纸", "停车位太少", "导办员很热情",
                       "材料清单能不能在网上先看到", "", "", ""]


def _questionnaire(rng: random.Random, tz: ZoneInfo, now: datetime, today: date,
                   windows: list[Window]) -> None:
    started = today - timedelta(days=21)
    surveys.import_survey(QUESTIONNAIRE | {"starts": started.isoformat()})
    for n in range(140):
        when = now - timedelta(days=rng.uniform(0, 20), hours=rng.uniform(0, 8))
        level = rng.choices([5, 4, 3, 2, 1], [55, 30, 8, 5, 2])[0]
        answers: dict = {"q1": level, "q2": rng.choices("abc", [75, 18, 7])[0],
                         "q3": rng.sample(["wait", "guide", "docs", "online"],
                                          rng.randint(0, 2))}
        text = rng.choice(QUESTIONNAIRE_TEXTS)
        if text:
            answers["q4"] = text
        channel = rng.choice(["qr", "qr", "kiosk"])
        body = {"client_id": uuid.UUID(int=rng.getrandbits(128)).hex, "answers": answers,
                "channel": channel, "window": rng.choice(windows).code,
                "created_at": when.isoformat(timespec="seconds") + "Z"}
        surveys.submit("demo", body, respondent=f"demo-phone-{n}" if channel == "qr" else None,
                       now=now, today=today)


def is_demo(session) -> bool:
    """Whether this database holds the demo hall."""
    return session.scalar(sa.select(Hall.id).where(Hall.name == HALL).limit(1)) is not None


def pairing_links(session, base_url: str, hours: float) -> list[tuple[str, str, str]]:
    """``(code, name, url)`` for each active window of the demo hall: a fresh one-time
    link that pairs the browser opening it as that window's kiosk tablet and lands on
    its page, so a newcomer can tap straight away. [] when the demo hall is absent (a
    real hall's pairing links are made on purpose, one at a time). Flushes."""
    from .devices import create_code, pair_url

    windows = session.scalars(sa.select(Window).join(Hall).where(
        Hall.name == HALL, Window.active).order_by(Window.code)).all()
    return [(w.code, w.name, pair_url(base_url, create_code(session, w, hours=hours)))
            for w in windows]
