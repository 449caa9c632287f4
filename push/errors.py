"""Friendly errors: one table from `error_type` to a sentence a user can act on.

The service fills `message` / `retryable` from here when a publisher leaves
them out; the terminal client and the reports show the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diagops.push.protocol import ERROR_TYPES


@dataclass(frozen=True)
class FriendlyError:
    error_type: str
    retryable: bool
    zh: str
    en: str

    def message(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


ERROR_TABLE: dict[str, FriendlyError] = {
    "AI_PLATFORM_ERROR": FriendlyError(
        "AI_PLATFORM_ERROR", True,
        "部分 AI 平台暂时无法访问，请稍后重试。",
        "One of the AI platforms is not answering right now. Please try again in a few minutes.",
    ),
    "TIMEOUT": FriendlyError(
        "TIMEOUT", True,
        "诊断超时，请稍后重试或减少问题数量。",
        "The diagnosis took too long. Try again, or ask fewer questions at once.",
    ),
    "RATE_LIMITED": FriendlyError(
        "RATE_LIMITED", True,
        "请求过于频繁，请等待一分钟后再试。",
        "Too many requests right now. Please wait a minute and try again.",
    ),
    "INVALID_REQUEST": FriendlyError(
        "INVALID_REQUEST", False,
        "请求内容有误，请检查品牌名称和问题后重新提交。",
        "The request is not valid. Check the brand name and questions, then submit again.",
    ),
    "INTERNAL": FriendlyError(
        "INTERNAL", True,
        "服务内部出错，我们已记录该问题，请稍后重试。",
        "Something went wrong on our side. It has been logged; please try again later.",
    ),
}
assert set(ERROR_TABLE) == set(ERROR_TYPES)

UNKNOWN = ERROR_TABLE["INTERNAL"]


def friendly(error_type: str) -> FriendlyError:
    """The table entry for a type; unknown types get the generic internal one."""
    return ERROR_TABLE.get(error_type, UNKNOWN)


def complete_error_data(data: dict[str, Any], lang: str) -> dict[str, Any]:
    """Fill `message` and `retryable` of an `error` event's data when the publisher left them out."""
    entry = friendly(str(data.get("error_type", "INTERNAL")))
    filled = dict(data)
    filled.setdefault("error_type", entry.error_type)
    filled.setdefault("error", entry.message(lang))
    filled.setdefault("error_details", {})
    filled.setdefault("message", entry.message(lang))
    filled.setdefault("retryable", entry.retryable)
    return filled
