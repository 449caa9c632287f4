"""Ed25519 key files: `NAME.key` (private, PKCS#8 PEM, mode 0600) and `NAME.pub` (SubjectPublicKeyInfo PEM).

PEM rather than securesystemslib's JSON so that openssl and other tools read the same files. The
key id is securesystemslib's default (a sha256 over the public key), computed again on every load,
so a key file cannot claim another key's id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from diagops.reports.errors import InputError

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, SSlibKey

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


class KeyFileError(InputError):
    """A key file that is missing, unreadable, or not an Ed25519 key."""


def generate_key_pair(name: str, out: Path) -> tuple[Path, Path, str]:
    """Write NAME.key and NAME.pub into `out`; never overwrites (a lost private key cannot be undone)."""
    from securesystemslib.signer import CryptoSigner

    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"key name {name!r} must be a plain file name")
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / f"{name}{PRIVATE_SUFFIX}", out / f"{name}{PUBLIC_SUFFIX}"
    for path in (private, public):
        if path.exists():
            raise KeyFileError(f"{path} already exists: pick another --name or move it away")
    signer = CryptoSigner.generate_ed25519()
    _write_new(private, signer.private_bytes, 0o600)
    _write_new(public, _public_pem(signer.private_bytes), 0o644)
    return private, public, signer.public_key.keyid


def load_signer(path: Path) -> CryptoSigner:
    """A signer from a NAME.key file written by `generate_key_pair` (unencrypted PKCS#8 PEM)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    data = _read(path)
    try:
        private_key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return CryptoSigner(private_key)


def load_public_key(path: Path) -> SSlibKey:
    """The public key of a NAME.pub file, with its default key id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    data = _read(path)
    try:
        public_key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(public_key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return SSlibKey.from_crypto(public_key)


def _public_pem(private_pem: bytes) -> bytes:
    """The public half as PEM, derived from the private PEM (the signer exposes no public PEM)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

    public_key = load_pem_private_key(private_pem, password=None).public_key()
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create the file with its final mode, so a private key is never readable by others, not even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the umask may have taken bits away from a public key
