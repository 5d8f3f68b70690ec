"""The domain imports nothing but the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ordermesh.domain

DOMAIN = Path(ordermesh.domain.__file__).parent
PACKAGE = "ordermesh.domain"


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of every module that `source` (the code of `module`) imports."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                if node.module:
                    names.add(f"{base}.{node.module}")
                else:  # from . import money
                    names.update(f"{base}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module or "")
    return names


def is_allowed(name: str) -> bool:
    top = name.partition(".")[0]
    return (top in sys.stdlib_module_names or top == "__future__"
            or name == PACKAGE or name.startswith(PACKAGE + "."))


def module_name(path: Path) -> str:
    parts = path.relative_to(DOMAIN).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def domain_files() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def test_the_domain_modules_are_found() -> None:
    names = {module_name(path) for path in domain_files()}
    assert {"ordermesh.domain", "ordermesh.domain.money", "ordermesh.domain.orders",
            "ordermesh.domain.inventory", "ordermesh.domain.events",
            "ordermesh.domain.errors"} <= names


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    offending: dict[str, list[str]] = {}
    for path in domain_files():
        module = module_name(path)
        names = imported_modules(path.read_text(encoding="utf-8"), module,
                                 is_package=path.name == "__init__.py")
        bad = sorted(name for name in names if not is_allowed(name))
        if bad:
            offending[module] = bad
    assert not offending, f"the domain imports outside the standard library: {offending}"


# The checker itself: it must see the imports that would break the rule.


def test_the_checker_resolves_relative_imports() -> None:
    source = "from . import money\nfrom .errors import InvalidInput\nfrom .. import config\n"
    assert imported_modules(source, "ordermesh.domain.orders") == {
        "ordermesh.domain.money", "ordermesh.domain.errors", "ordermesh.config"}
    assert imported_modules("from .money import Money\n", "ordermesh.domain",
                            is_package=True) == {"ordermesh.domain.money"}


def test_the_checker_finds_imports_anywhere_in_a_module() -> None:
    source = (
        "from __future__ import annotations\n"
        "import json, decimal\n"
        "from ordermesh.domain.money import Money\n"
        "def f():\n"
        "    import sqlalchemy.orm\n"
        "if True:\n"
        "    from pydantic import BaseModel\n"
        "try:\n"
        "    import ordermesh.services.bus\n"
        "except ImportError:\n"
        "    pass\n"
    )
    names = imported_modules(source, "ordermesh.domain.orders")
    assert sorted(name for name in names if not is_allowed(name)) == [
        "ordermesh.services.bus", "pydantic", "sqlalchemy.orm"]


def test_the_checker_refuses_the_rest_of_ordermesh_and_look_alikes() -> None:
    assert not is_allowed("ordermesh")
    assert not is_allowed("ordermesh.adapters.db")
    assert not is_allowed("ordermesh.domainx")
    assert not is_allowed("stdnum.luhn")
    assert is_allowed("ordermesh.domain.errors")
    assert is_allowed("collections.abc")
