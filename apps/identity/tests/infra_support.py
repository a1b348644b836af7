"""Reading infra/terraform with python-hcl2, for the Terraform and `tenant_tfvars` tests.

python-hcl2 (8.x) returns expressions as strings wrapped in `${…}`; `plain()` takes that
off so tests compare what the file says. Its bookkeeping keys (`__is_block__`) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from config.env import BASE_DIR

TERRAFORM = Path(BASE_DIR) / "infra" / "terraform"
ROOT_MODULE = TERRAFORM / "envs" / "tenant"
TENANT_MODULE = TERRAFORM / "modules" / "tenant_stack"
SHARED_MODULE = TERRAFORM / "modules" / "shared_stack"
OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False)


def tf_files(under: Path = TERRAFORM) -> list[Path]:
    """Every .tf file under `under`, skipping `.terraform` working directories."""
    return sorted(p for p in under.rglob("*.tf") if ".terraform" not in p.parts)


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        parsed: dict[str, Any] = hcl2.load(f, serialization_options=OPTIONS)
    return _clean(parsed)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """`'${var.slug}'` / `'"pooled"'` → `var.slug` / `pooled`; other values unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


def _entries(directory: Path, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in tf_files(directory):
        if path.parent != directory:
            continue
        for entry in load(path).get(kind, []):
            found.append((path, entry))
    return found


def named_blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """`variable`, `output`, `module` blocks of one module: name → body."""
    return {name: body for _, entry in _entries(directory, kind) for name, body in entry.items()}


def resources(directory: Path, kind: str = "resource") -> dict[tuple[str, str], tuple[Path, dict[str, Any]]]:
    """`resource` (or `data`) blocks of one module: (type, name) → (file, body)."""
    return {
        (rtype, name): (path, body)
        for path, entry in _entries(directory, kind)
        for rtype, named in entry.items()
        for name, body in named.items()
    }


def object_attributes(type_expression: str) -> set[str]:
    """The attribute names of an `object({...})` type expression."""
    inner = plain(type_expression)
    assert "object(" in inner, inner
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", inner))


def squeeze(text: Any) -> str:
    """An expression without whitespace, to compare two spellings of one type."""
    return re.sub(r"\s+", "", str(plain(text)))
