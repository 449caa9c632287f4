"""The built wheel installs one top-level package, `diagops`, and works from anywhere.

A generic top-level name (`cli`, `push`, `spec`) in site-packages would break, or be broken by,
any other distribution that has one; so this builds the real wheel, installs it into a fresh
venv, and looks at what landed there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the files git tracks (as a clean clone has them): setuptools keeps a
    build/ folder in the source tree, and stale files left there would end up in the wheel."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
                   check=True, capture_output=True, timeout=300)
    [whl] = out.glob("diagops-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh venv with the wheel installed (no dependencies: those come from this venv via a .pth)."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site


def _top_level_names(names: list[str]) -> set[str]:
    return {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert _top_level_names(names) == {"diagops"}
    for part in ("cli", "push", "push/store", "spec", "loadtests", "loadtests/generator", "dashboards", "alerts",
                 "checks", "reports", "procs"):
        assert f"diagops/{part}/__init__.py" in names, part
    assert "diagops/push/store/redis_append.lua" in names
    assert "diagops/push/store/redis_tinylfu_put.lua" in names and "diagops/push/store/redis_tinylfu_get.lua" in names
    assert "diagops/bench/wsload/__init__.py" in names  # `diagops bench push`'s load client
    assert "diagops/loadtests/results.schema.json" in names
    assert "diagops/loadtests/generator/locustfile.py" in names  # `diagops loadtest` runs it by path
    for static in ("index.html", "page.js", "page.css", "diag-client.js", "favicon.svg"):  # the page at /
        assert f"diagops/push/static/{static}" in names, static


def test_only_diagops_lands_in_site_packages(installed: tuple[Path, Path]) -> None:
    _, site = installed
    ours = {p.name for p in site.iterdir()} - {"zz_dependencies.pth", "__pycache__"}
    ours = {n for n in ours if not n.startswith(("pip", "_distutils_hack", "distutils-precedence", "setuptools", "pkg_resources"))}
    assert {n for n in ours if not n.endswith(".dist-info")} == {"diagops"}


def test_every_module_imports_from_the_installed_tree(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """Run outside the repository, so nothing resolves through the checkout by accident."""
    python, site = installed
    code = (
        "import importlib, pkgutil, diagops\n"
        "mods = [m.name for m in pkgutil.walk_packages(diagops.__path__, 'diagops.')\n"
        "        if not m.name.startswith('diagops.loadtests.generator.') and m.name != 'diagops.__main__']\n"
        "for name in mods:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert mod.__file__.startswith({str(site)!r}), (name, mod.__file__)\n"
        "import sys\n"
        "assert not {'locust', 'gevent'} & set(sys.modules), 'the plain half imported the Locust half'\n"
        "print(len(mods))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COV_CORE_SOURCE", "COVERAGE_PROCESS_START")}
    out = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 40
    cli = subprocess.run([str(python), "-m", "diagops", "--version"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert (cli.returncode, cli.stdout.strip()) == (0, "diagops 0.1.0"), cli.stderr


def test_bench_push_runs_from_the_installed_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """The fan-out load client ships in the wheel: one tiny step measures, away from any checkout."""
    import json

    python, site = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COV_CORE_SOURCE", "COVERAGE_PROCESS_START")}
    out = subprocess.run([str(python), "-m", "diagops", "bench", "push", "--steps", "10", "--seconds", "1", "--warmup", "0.2",
                          "--json", "--out", str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1, out.stderr  # 10 sockets held, short of the required capacity: a measurement, not exit 3
    doc = json.loads(out.stdout)
    [step] = doc["steps"]
    assert step["sockets"] == 10 and step["held"] and step["events_per_s"] > 0
