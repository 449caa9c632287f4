"""A diagnosis request: validation, normalisation, and the result-cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from diagops.push.protocol import LANGS

MAX_ITEMS = 50
MAX_TEXT = 500


class InvalidRequest(ValueError):
    """A request body the service refuses (400); the message names the field."""


@dataclass(frozen=True)
class DiagnosisRequest:
    brand: str
    platforms: tuple[str, ...]
    questions: tuple[str, ...]
    lang: str

    def cache_key(self) -> str:
        """Equal for requests that differ only in case, spacing and order, as the contract's cache rule says."""
        canonical = {
            "brand": _norm(self.brand),
            "platforms": sorted({_norm(p) for p in self.platforms}),
            "questions": sorted({_norm(q) for q in self.questions}),
            "lang": self.lang,
        }
        return hashlib.sha256(json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse_request(body: Any, *, default_lang: str, default_platforms: list[str]) -> DiagnosisRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    unknown = set(body) - {"brand", "platforms", "questions", "lang"}
    if unknown:
        raise InvalidRequest(f"unknown field '{sorted(unknown)[0]}'")
    brand = body.get("brand")
    if not isinstance(brand, str) or not brand.strip():
        raise InvalidRequest("'brand' is required and must be a non-empty string")
    if len(brand) > MAX_TEXT:
        raise InvalidRequest(f"'brand' is longer than {MAX_TEXT} characters")
    platforms = _string_list(body, "platforms", default_platforms)
    if not platforms:
        raise InvalidRequest("'platforms' must name at least one platform")
    questions = _string_list(body, "questions", [])
    lang = body.get("lang", default_lang)
    if lang not in LANGS:
        raise InvalidRequest(f"'lang' must be one of {', '.join(LANGS)}")
    return DiagnosisRequest(brand.strip(), tuple(platforms), tuple(questions), lang)


def _string_list(body: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidRequest(f"'{key}' must be a list of non-empty strings")
    if len(value) > MAX_ITEMS or any(len(v) > MAX_TEXT for v in value):
        raise InvalidRequest(f"'{key}' is too long (at most {MAX_ITEMS} items of {MAX_TEXT} characters)")
    return [v.strip() for v in value]
