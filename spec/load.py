"""Load `diagops.yaml`, then apply `DIAGOPS_*` environment variables and flags.

Precedence, lowest first: built-in defaults, the YAML file, the environment,
explicit overrides (CLI flags). Errors name the file and the dotted key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from diagops.spec.model import Spec

DEFAULT_FILE = "diagops.yaml"
ENV_PREFIX = "DIAGOPS_"
# Short names for the settings people set most; any key is reachable as
# DIAGOPS_<SECTION>__<KEY> (e.g. DIAGOPS_ENGINE__SPEED=50).
ENV_ALIASES = {
    "DIAGOPS_JWT_SECRET": "auth.jwt_secret",
    "DIAGOPS_REDIS_URL": "service.redis_url",
    "DIAGOPS_HOST": "service.host",
    "DIAGOPS_PORT": "service.port",
}
# Variables that are not spec keys and must not be read as such.
ENV_IGNORED = {"DIAGOPS_DEBUG", "DIAGOPS_CONFIG"}


class SpecError(Exception):
    """A spec that cannot be read or does not validate; the message is one readable line."""


def load_spec(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_sources: Mapping[str, str] | None = None,
) -> Spec:
    """Build the spec. `path=None` reads ./diagops.yaml when present, else only defaults.

    The file must be valid on its own (a flag must not hide a mistake in it), and an error in a
    value from the environment or a flag names that variable or flag (`override_sources` names
    each override's flag), not the file.
    """
    env = os.environ if env is None else env
    source, data = _read_file(path, env)
    layered = _nested(data)
    _validate(layered, lambda _key: source)
    sources: dict[str, str] = {}
    for key, (name, value) in _env_values(env).items():
        _set(layered, key, value)
        sources[key] = f"environment variable {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(layered, key, value)
            sources[key] = (override_sources or {}).get(key, f"override of '{key}'")
    return _validate(layered, lambda key: _source_of(key, sources) or source)


def _validate(layered: dict[str, Any], source_of: Callable[[str], str]) -> Spec:
    try:
        return Spec.model_validate(layered)
    except ValidationError as exc:
        key, message = _first_error(exc)
        raise SpecError(f"{source_of(key)}: {message}") from None


def _source_of(key: str, sources: Mapping[str, str]) -> str | None:
    """Where the value at dotted `key` came from: the layer that set it or anything under it."""
    hits = [label for set_key, label in sources.items()
            if key == set_key or key.startswith(set_key + ".") or set_key.startswith(key + ".")]
    return ", ".join(dict.fromkeys(hits)) or None


def _read_file(path: str | Path | None, env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    explicit = path if path is not None else env.get("DIAGOPS_CONFIG")
    if explicit is None:
        candidate = Path(DEFAULT_FILE)
        if not candidate.is_file():
            return "built-in defaults", {}
        explicit = candidate
    file = Path(explicit)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{file}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"{file}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{file}: the top level must be a mapping of sections")
    return str(file), data


def _nested(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}


def _env_values(env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """Dotted key -> (the variable that set it, its value)."""
    found: dict[str, tuple[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        if name in ENV_ALIASES:  # a list too: DIAGOPS_REDIS_URL=[redis://a:6379/0, redis://b:6379/0]
            found[ENV_ALIASES[name]] = (name, _env_scalar(value))
        elif "__" in name:
            found[name[len(ENV_PREFIX):].lower().replace("__", ".")] = (name, _env_scalar(value))
    return found


def _env_scalar(value: str) -> Any:
    """Let `DIAGOPS_ENGINE__PLATFORMS=[a, b]` carry a list; scalars stay strings for pydantic."""
    if value.startswith("["):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _set(layered: dict[str, Any], dotted: str, value: Any) -> None:
    node = layered
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The dotted key of the first error and one readable line about it."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    shown = key or "(top level)"
    if err["type"] == "extra_forbidden":
        return key, f"unknown key '{shown}'"
    return key, f"'{shown}': {err['msg']} (got {err.get('input')!r})"
