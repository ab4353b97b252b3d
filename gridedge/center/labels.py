"""The console's words: Chinese first, then English, as officers read them."""

from __future__ import annotations

SEVERITY_LABELS = {"critical": "紧急 critical", "major": "重要 major", "minor": "一般 minor", "info": "提示 info"}
STATUS_LABELS = {"firing": "告警中 firing", "update": "更新 update", "resolved": "已恢复 resolved"}
STATE_LABELS = {
    "reported": "已上报 reported",
    "filed": "已立案 filed",
    "rejected": "误报 false alarm",
    "dispatched": "已派遣 dispatched",
    "handled": "已处置 handled",
    "closed": "已结案 closed",
    "evaluated": "已评价 evaluated",
}
ACTION_LABELS = {
    "verify": "核实立案 Verify & file",
    "reject": "误报 Reject as false alarm",
    "dispatch": "派遣 Dispatch",
    "handle": "处置反馈 Report handled",
    "close": "核查结案 Check & close",
    "send_back": "退回 Send back",
    "evaluate": "考核评价 Evaluate",
    "escalate": "超时上报 Escalated (late)",
}
LEVEL_LABELS = {"grid": "网格 grid", "community": "社区 community", "street": "街道 street", "district": "区 district"}
COLUMNS = (
    "级别 / Severity",
    "类别 / Category",
    "事件 / Event",
    "地点 / Place",
    "网格 / Grid",
    "办理状态 / State",
    "处置层级 / Level",
    "时限 / Due",
    "设备状态 / Source",
)
