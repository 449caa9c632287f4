"""JWT tokens: minting (the `token` command, tests, the load test) and checking (the service)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt

from diagops.push.protocol import LANGS


class AuthError(Exception):
    """A token that does not authorise the action; `reason` labels auth_failures_total."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # missing | invalid | expired | scope
        self.message = message


@dataclass(frozen=True)
class Claims:
    sub: str
    scopes: frozenset[str]
    lang: str | None
    exp: float


def mint_token(
    secret: str,
    sub: str,
    scopes: Iterable[str] = ("subscribe",),
    *,
    ttl_s: float = 3600.0,
    lang: str | None = None,
    algorithm: str = "HS256",
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "scope": " ".join(scopes), "iat": now, "exp": now + int(ttl_s)}
    if lang is not None:
        claims["lang"] = lang
    return jwt.encode(claims, secret, algorithm=algorithm)


def verify_token(token: str | None, secret: str, *, need: str, algorithm: str = "HS256") -> Claims:
    """Decode and check a token for one scope; raises AuthError with a stable reason."""
    return _require_scope(_decode(token, secret, algorithm), need)


class TokenVerifier:
    """Checks tokens for one secret, remembering the claims of valid tokens until they expire.

    An engine publishing every event with the same token, or a client reconnecting, pays the
    HMAC and JSON decoding once instead of on every request.
    """

    def __init__(self, secret: str, algorithm: str = "HS256", max_cached: int = 10_000) -> None:
        self.secret = secret
        self.algorithm = algorithm
        self.max_cached = max_cached
        self._valid: dict[str, Claims] = {}

    def verify(self, token: str | None, *, need: str) -> Claims:
        claims = self._valid.get(token) if token else None
        if claims is None or claims.exp <= time.time():
            self._valid.pop(token or "", None)
            claims = _decode(token, self.secret, self.algorithm)
            if len(self._valid) >= self.max_cached:
                self._valid.clear()
            self._valid[token] = claims  # type: ignore[index]  # _decode refused an empty token
        return _require_scope(claims, need)


def _decode(token: str | None, secret: str, algorithm: str) -> Claims:
    if not token:
        raise AuthError("missing", "a token is required (Authorization: Bearer or ?token=)")
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("expired", "the token has expired") from None
    except jwt.PyJWTError:
        raise AuthError("invalid", "the token is not valid") from None
    problem = _claim_type_problem(claims)
    if problem is not None:
        raise AuthError("invalid", problem)
    scope, lang = claims.get("scope", ""), claims.get("lang")
    return Claims(sub=claims["sub"], scopes=frozenset(scope.split()), lang=lang if lang in LANGS else None,
                  exp=float(claims["exp"]))


def _claim_type_problem(claims: dict[str, object]) -> str | None:
    """What is wrong with the claims' types, if anything. PyJWT reads `exp`, `iat` and `nbf` with
    int(), so "4102444800" passed for a date; RFC 7519 says NumericDate is a JSON number."""
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"the token's '{name}' must be a number"
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or not _is_unicode(sub):
        return "the token's 'sub' must be a non-empty string"
    for name in ("scope", "lang"):
        if name in claims and not isinstance(claims[name], str):
            return f"the token's '{name}' must be a string"
    return None


def _is_unicode(text: str) -> bool:
    """False for a str holding a lone surrogate: PyJWT's JSON reader lets them through, and the
    `sub` becomes an execution's owner, encoded into every event."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _require_scope(claims: Claims, need: str) -> Claims:
    if need not in claims.scopes:
        raise AuthError("scope", f"the token lacks the '{need}' scope")
    return claims


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def random_secret() -> str:
    """64 random bytes: long enough for every algorithm the spec allows (HS512 wants 64)."""
    return secrets.token_urlsafe(64)


def read_secret_file(path: str | Path) -> str:
    """The secret from a file (trailing newline dropped); OSError propagates for the CLI to word."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{path}: the secret file is empty")
    return text
