"""Forms of the hall-management pages (窗口与人员). Messages are Chinese; what a form
cannot check alone (a code already taken, a clerk on duty elsewhere) the services in
kiosk/ refuse with a FieldError that the view puts next to the field."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, DateTimeLocalField, IntegerField, SelectField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

CODE_HINT = "只能由字母、数字、“-”和“_”组成，以字母或数字开头"


def strip(value):
    return value.strip() if isinstance(value, str) else value


def required(what: str) -> DataRequired:
    return DataRequired(f"请填写{what}")  # spaces alone are nothing


def at_most(n: int, what: str) -> Length:
    return Length(max=n, message=f"{what}不能超过 {n} 个字")


def optional_id(value):
    """A select's value as an id; "" (the "none" option) as None."""
    return int(value) if value not in (None, "", "None") else None


class HallForm(FlaskForm):
    name = StringField("名称", filters=[strip], validators=[required("名称"), at_most(100, "名称")])
    address = StringField("地址", filters=[strip], validators=[Optional(), at_most(200, "地址")])


class DepartmentForm(FlaskForm):
    hall_id = SelectField("所属大厅", coerce=optional_id, validate_choice=False,
                          validators=[InputRequired("请选择大厅")])
    name = StringField("名称", filters=[strip], validators=[required("名称"), at_most(100, "名称")])


class WindowForm(FlaskForm):
    code = StringField("窗口编号", filters=[strip], validators=[
        required("窗口编号"), at_most(32, "窗口编号"),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", message="窗口编号" + CODE_HINT)])
    name = StringField("窗口名称", filters=[strip],
                       validators=[required("窗口名称"), at_most(100, "窗口名称")])
    department_id = SelectField("所属部门（决定大厅）", coerce=optional_id,
                                validate_choice=False,
                                validators=[InputRequired("请选择部门")])
    active = BooleanField("启用", default=True)


class StaffForm(FlaskForm):
    staff_no = StringField("工号", filters=[strip], validators=[
        required("工号"), at_most(32, "工号"),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", message="工号" + CODE_HINT)])
    name = StringField("姓名", filters=[strip], validators=[required("姓名"), at_most(50, "姓名")])
    department_id = SelectField("所属部门", coerce=optional_id, validate_choice=False)
    duties = TextAreaField("岗位职责", filters=[strip],
                           validators=[Optional(), at_most(200, "岗位职责")])
    active = BooleanField("在职（可挂牌）", default=True)


class PhotoForm(FlaskForm):
    photo = FileField("照片（JPEG、PNG 或 WebP）")


class ServiceItemForm(FlaskForm):
    code = StringField("事项编号", filters=[strip], validators=[
        required("事项编号"), at_most(64, "事项编号"),
        Regexp(r"^[^\s].*$", message="事项编号不能以空格开头")])
    name = StringField("事项名称", filters=[strip],
                       validators=[required("事项名称"), at_most(200, "事项名称")])
    department_id = SelectField("所属部门", coerce=optional_id, validate_choice=False)
    # 事项公示 (kiosk/items.py)
    time_limit_days = IntegerField("办理时限（工作日，0 为即办）", validators=[
        Optional(), NumberRange(0, 3650, message="办理时限应为 0–3650 个工作日")])
    documents = TextAreaField("所需材料（每行一项）", filters=[strip],
                              validators=[Optional(), at_most(4000, "所需材料")])
    windows = StringField("办理窗口（窗口编号，空格分隔；留空则为本部门各窗口）", filters=[strip],
                          validators=[Optional(), at_most(500, "办理窗口")])
    active = BooleanField("启用", default=True)


class ReasonForm(FlaskForm):
    code = StringField("原因编号", filters=[strip], validators=[
        required("原因编号"), at_most(32, "原因编号"),
        Regexp(r"^[a-z0-9][a-z0-9_]*$",
               message="原因编号只能由小写字母、数字和“_”组成，以字母或数字开头")])
    zh = StringField("中文名称", filters=[strip],
                     validators=[required("中文名称"), at_most(50, "中文名称")])
    en = StringField("英文名称", filters=[strip],
                     validators=[required("英文名称"), at_most(80, "英文名称")])
    sort_order = IntegerField("排序（小的在前）", default=100, validators=[
        InputRequired("请填写排序数字"),
        NumberRange(min=0, max=100000, message="排序须为 0–100000 的整数")])
    active = BooleanField("启用（在评价页显示）", default=True)


class DutyStartForm(FlaskForm):
    staff_id = SelectField("工作人员", coerce=optional_id, validate_choice=False,
                           validators=[InputRequired("请选择工作人员")])
    started_at = DateTimeLocalField("开始时间（留空为现在）", validators=[Optional()])


class DutyChangeForm(FlaskForm):
    staff_id = SelectField("接班人员", coerce=optional_id, validate_choice=False,
                           validators=[InputRequired("请选择接班人员")])
    at = DateTimeLocalField("换岗时间（留空为现在）", validators=[Optional()])


class DutyEndForm(FlaskForm):
    ended_at = DateTimeLocalField("结束时间（留空为现在）", validators=[Optional()])
