"""The trusted-keys folder a release manager keeps in a repository: `NAME.pub` files and `roles.yaml`.

`roles.yaml` maps each role id of the spec to the key names allowed to sign it, e.g.
`chief_architect: [alice]`. A key in the folder but in no role's list is known and trusted for
nothing; that distinction is what lets the verifier say "registered for another role".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from diagops.reports.errors import InputError
from diagops.reports.keys import PUBLIC_SUFFIX, load_public_key

if TYPE_CHECKING:
    from securesystemslib.signer import SSlibKey

ROLES_FILE = "roles.yaml"


class TrustedKeysError(InputError):
    """A trusted-keys folder that is missing, or whose roles.yaml does not match its keys or the spec."""


@dataclass(frozen=True)
class TrustedKeys:
    folder: Path
    keys: dict[str, SSlibKey]  # key name (file stem) -> public key
    roles: dict[str, tuple[str, ...]]  # role id -> key names allowed to sign it

    def name_of(self, keyid: str) -> str | None:
        return next((name for name, key in self.keys.items() if key.keyid == keyid), None)

    def roles_of(self, name: str) -> list[str]:
        return [role for role, names in self.roles.items() if name in names]


def load_trusted_keys(folder: Path, known_roles: Collection[str]) -> TrustedKeys:
    """Read every NAME.pub and roles.yaml; a role or key name that does not resolve is an error naming it."""
    if not folder.is_dir():
        raise TrustedKeysError(f"{folder}: no such folder of trusted keys (pass --trusted-keys DIR)")
    keys = {path.stem: load_public_key(path) for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}"))}
    if not keys:
        raise TrustedKeysError(f"{folder}: no NAME{PUBLIC_SUFFIX} public keys there")
    _refuse_copies(folder, keys)
    return TrustedKeys(folder, keys, _read_roles(folder / ROLES_FILE, known_roles, keys))


def _refuse_copies(folder: Path, keys: dict[str, SSlibKey]) -> None:
    seen: dict[str, str] = {}
    for name, key in keys.items():
        if key.keyid in seen:
            raise TrustedKeysError(f"{folder}: {seen[key.keyid]}{PUBLIC_SUFFIX} and {name}{PUBLIC_SUFFIX} hold the same key")
        seen[key.keyid] = name


def _read_roles(path: Path, known_roles: Collection[str], keys: dict[str, SSlibKey]) -> dict[str, tuple[str, ...]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrustedKeysError(f"{path}: no such file (it maps each role to the key names allowed to sign it)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TrustedKeysError(f"{path}: cannot read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise TrustedKeysError(f"{path}: must map role ids to lists of key names")
    roles: dict[str, tuple[str, ...]] = {}
    for role, names in data.items():
        if role not in known_roles:
            raise TrustedKeysError(f"{path}: unknown role '{role}' (the spec's roles: {', '.join(known_roles)})")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TrustedKeysError(f"{path}: '{role}' must be a list of key names")
        missing = [n for n in names if n not in keys]
        if missing:
            raise TrustedKeysError(f"{path}: '{role}' names key '{missing[0]}', but there is no {missing[0]}{PUBLIC_SUFFIX}")
        roles[role] = tuple(names)
    return roles
