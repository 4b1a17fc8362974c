"""Every setting an operator can give in the environment is documented (docs/operations.md, or
the README for the test-suite's own), so the docs stay true as settings are added."""

import ast
import re
from pathlib import Path

import wenxu

PACKAGE = Path(wenxu.__file__).resolve().parent
ROOT = PACKAGE.parent
NAME = re.compile(r"WENXU_[A-Z0-9_]+")


def _read_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.relative_to(PACKAGE).parts:
            continue
        # A string that is exactly a variable's name: env.str("WENXU_X"), os.environ["WENXU_X"],
        # or a name handed to a helper that reads it (_data_key("secret_key", "WENXU_SECRET_KEY")).
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and NAME.fullmatch(node.value)
            ):
                found.setdefault(node.value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_settings_it_must():
    found = _read_variables()
    # A regular expression that stopped matching would make the next test pass for nothing.
    assert {"WENXU_DATABASE_URL", "WENXU_SECRET_KEY", "WENXU_WEB_WORKERS"} <= set(found)
    assert len(found) > 40


def test_every_environment_variable_wenxu_reads_is_documented():
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = {
        name: sorted(paths)
        for name, paths in _read_variables().items()
        if f"`{name}`" not in operations and name not in readme
    }
    assert not missing, (
        "document these in docs/operations.md (Settings), or in the README for test-only ones: "
        f"{missing}"
    )
