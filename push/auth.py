"""JWT tokens: minting (the `token` command, tests, the load test) and checking (the service)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt

from push.protocol import LANGS


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
    if not token:
        raise AuthError("missing", "a token is required (Authorization: Bearer or ?token=)")
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("expired", "the token has expired") from None
    except jwt.PyJWTError:
        raise AuthError("invalid", "the token is not valid") from None
    scope = claims.get("scope", "")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    if need not in scopes:
        raise AuthError("scope", f"the token lacks the '{need}' scope")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise AuthError("invalid", "the token's 'sub' must be a non-empty string")
    lang = claims.get("lang")
    return Claims(sub=sub, scopes=scopes, lang=lang if lang in LANGS else None, exp=float(claims["exp"]))


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def random_secret() -> str:
    return secrets.token_urlsafe(32)


def read_secret_file(path: str | Path) -> str:
    """The secret from a file (trailing newline dropped); OSError propagates for the CLI to word."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{path}: the secret file is empty")
    return text
