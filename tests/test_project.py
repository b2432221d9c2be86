"""The project's set-up files agree with each other."""
import re
try:
    import tomllib
except ImportError:  # Python 3.10
    import pytest
    tomllib = pytest.importorskip("tomli")
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_start = next(i for i, line in enumerate(env_lines) if line.strip() == "- pip:")
    env = [line.strip()[2:] for line in env_lines[pip_start + 1:] if line.strip().startswith("- ")]
    env = [r for r in env if not r.startswith("-e")]
    assert sorted(env) == sorted(declared)  # same names and the same lower bounds
    assert all(">=" in r and "==" not in r for r in declared)  # lower bounds only, never pins


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_runtime_dependencies_cover_the_contract():
    deps = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert {"torch", "torchvision", "numpy", "scipy", "matplotlib", "ipywidgets", "pillow", "tqdm", "mlxtend"} <= deps
