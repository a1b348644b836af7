"""Files' permission codes and what each system role is granted.

Autodiscovered by `apps.identity.rbac`; `manage.py seed_rbac` writes them to
the database.
"""

from __future__ import annotations

from typing import Final

VIEW_FILE: Final = "files.view_file"
UPLOAD_FILE: Final = "files.upload_file"
DELETE_FILE: Final = "files.delete_file"

PERMISSIONS: Final[dict[str, str]] = {
    VIEW_FILE: "List the tenant's files and download them",
    UPLOAD_FILE: "Upload files",
    DELETE_FILE: "Delete files",
}

_EVERYONE: Final = frozenset({VIEW_FILE, UPLOAD_FILE})

GRANTS: Final[dict[str, frozenset[str]]] = {
    "owner": _EVERYONE | {DELETE_FILE},
    "admin": _EVERYONE | {DELETE_FILE},
    "member": _EVERYONE,
}
