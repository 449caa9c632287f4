"""Another checkout's `diagops serve` beside ours in one benchmark run (`push_bench --variant NAME=PATH`).

With the namespace install, `python -m diagops` imports this checkout's code
wherever it runs: the editable install maps `diagops.cli`, `diagops.push`, ...
to this work tree. A variant's service therefore runs with a PYTHONPATH folder
whose `diagops/` holds one symbolic link per package of the other checkout
(read from its pyproject.toml `[tool.setuptools.package-dir]`); the import
system finds those before the editable install's mapping. What the variant
does not have (a package added here since) still comes from this checkout, and
its dependencies are this virtualenv's.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "diagops"
RESERVED = ("diagops", "nchan")  # names the report already uses


@dataclass(frozen=True)
class Variant:
    name: str
    checkout: Path


def parse_variant(text: str) -> Variant:
    """`NAME=PATH` -> a Variant, PATH checked for the layout; SystemExit with the reason otherwise."""
    name, _, path = text.partition("=")
    if not name or not path:
        raise SystemExit(f"--variant {text!r}: want NAME=PATH")
    if name in RESERVED:
        raise SystemExit(f"--variant {text!r}: NAME must not be one of {', '.join(RESERVED)}")
    checkout = Path(path).resolve()
    try:
        package_dirs(checkout)
    except ValueError as exc:
        raise SystemExit(f"--variant {text!r}: {exc}") from None
    return Variant(name, checkout)


def package_dirs(checkout: Path) -> dict[str, str]:
    """The checkout's `diagops.<part>` -> folder mapping, from its pyproject.toml."""
    try:
        pyproject = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{checkout} has no readable pyproject.toml ({exc})") from None
    mapping = pyproject.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    parts = {k: v for k, v in mapping.items() if k.startswith(NAMESPACE + ".") and k.count(".") == 1}
    if not parts or not (checkout / NAMESPACE / "__main__.py").is_file():
        raise ValueError(f"{checkout} is not a checkout with the {NAMESPACE}.* namespace layout "
                         f"(pyproject.toml package-dir and {NAMESPACE}/__main__.py)")
    return parts


def link_checkout(checkout: Path, into: Path) -> Path:
    """Make `into/diagops/` hold links to the checkout's packages and `__main__.py`; returns `into`."""
    parts = package_dirs(checkout)
    package = into / NAMESPACE
    package.mkdir(parents=True, exist_ok=True)
    (package / "__main__.py").symlink_to(checkout / NAMESPACE / "__main__.py")
    for dotted, folder in parts.items():
        (package / dotted.split(".", 1)[1]).symlink_to((checkout / folder).resolve(), target_is_directory=True)
    return into
