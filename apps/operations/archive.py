"""The tenant archive on disk: JSON lines per model, the stored objects, and a checksummed manifest.

Layout (a directory, or the same tree in a `.tar.gz`/`.tgz` when PATH ends so):

    manifest.json            format, version, tenant id/slug, time, per-file SHA-256 and row counts
    manifest.json.sha256     the manifest's own checksum (also printed, and kept by the offboarding log)
    rows/NNN-<app.model>.jsonl   Django's `jsonl` serialization, one row per line, in pk order
    files/<storage key>      each stored object, byte for byte

The archive is built in a hidden sibling directory and moved into place at the
end, so PATH never holds half an archive. Datetimes keep their microseconds
(Django's default encoder cuts them to milliseconds, which would break the
audit chain's hashes on the way back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

from django.core import serializers
from django.core.serializers.base import DeserializationError, DeserializedObject
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

FORMAT: Final = "atrium-tenant-archive"
VERSION: Final = 1
MANIFEST: Final = "manifest.json"
_CHUNK: Final = 1024 * 1024


class ArchiveError(Exception):
    """The archive cannot be written or read as asked; the message says why (commands exit 1 with it)."""


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder without the cut to milliseconds: rows must come back exactly as they were."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


def is_tarball(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_relative(name: str) -> PurePosixPath:
    """A relative path inside the archive; refuses absolute paths and `..` (from a key or a manifest)."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ArchiveError(f"unsafe path in archive: {name!r}")
    return relative


class ArchiveWriter:
    """Stages an archive next to its destination; `finish` moves it into place."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        if destination.exists() or destination.is_symlink():
            raise ArchiveError(f"{destination} already exists; choose a new path (an archive is never overwritten)")
        if not destination.parent.is_dir():
            raise ArchiveError(f"{destination.parent} is not a directory")
        self.stage = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
        self.models: list[dict[str, Any]] = []
        self.objects: list[dict[str, Any]] = []

    def write_rows(self, label: str, rows: models.QuerySet[Any]) -> int:
        """Serialize `rows` (already in pk order) as JSON lines; returns how many."""
        relative = f"rows/{len(self.models) + 1:03d}-{label.lower()}.jsonl"
        target = self.stage / relative
        target.parent.mkdir(exist_ok=True)
        count = 0

        def counted(items: Iterable[models.Model]) -> Iterator[models.Model]:
            nonlocal count
            for item in items:
                count += 1
                yield item

        with target.open("w", encoding="utf-8") as fh:
            serializers.serialize("jsonl", counted(rows.iterator(chunk_size=2000)), stream=fh, cls=ExactJSONEncoder)
        self.models.append({"model": label, "path": relative, "rows": count, "sha256": sha256_of(target)})
        return count

    def write_object(self, key: str, source: IO[bytes]) -> None:
        relative = "files" / _safe_relative(key)
        target = self.stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with source, target.open("wb") as fh:
            shutil.copyfileobj(source, fh, _CHUNK)
        self.objects.append(
            {"key": key, "path": str(relative), "bytes": target.stat().st_size, "sha256": sha256_of(target)}
        )

    def finish(self, manifest: dict[str, Any]) -> str:
        """Write the manifest, move the archive to its destination; returns the manifest's SHA-256."""
        body = {**manifest, "format": FORMAT, "version": VERSION, "models": self.models, "objects": self.objects}
        data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
        checksum = hashlib.sha256(data).hexdigest()
        (self.stage / MANIFEST).write_bytes(data)
        (self.stage / f"{MANIFEST}.sha256").write_text(f"{checksum}  {MANIFEST}\n")
        if is_tarball(self.destination):
            partial = self.stage.with_name(self.stage.name + ".tar.gz")
            partial.touch(mode=0o600)  # personal data: readable by the operator only, like the staging directory
            with tarfile.open(partial, "w:gz") as tar:
                for path in sorted(self.stage.rglob("*")):
                    tar.add(path, arcname=str(path.relative_to(self.stage)), recursive=False)
            os.replace(partial, self.destination)
            shutil.rmtree(self.stage)
        else:
            os.rename(self.stage, self.destination)
        return checksum

    def discard(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.with_name(self.stage.name + ".tar.gz").unlink(missing_ok=True)


@dataclass
class Archive:
    """An archive opened for reading (a tarball is unpacked into a temporary directory first)."""

    root: Path
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def tenant_id(self) -> str:
        return str(self.manifest["tenant"]["id"])

    @property
    def tenant_slug(self) -> str:
        return str(self.manifest["tenant"]["slug"])

    def path(self, relative: str) -> Path:
        return self.root / _safe_relative(relative)

    def verify(self) -> None:
        """Every listed file is there with its checksum and row count; raises ArchiveError on the first miss."""
        try:
            self._verify()
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{MANIFEST} is malformed ({exc!r})") from exc

    def _verify(self) -> None:
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != VERSION:
            raise ArchiveError(f"not an archive of format {FORMAT} version {VERSION}")
        str(self.manifest["tenant"]["id"]), str(self.manifest["tenant"]["slug"])
        for entry in [*self.manifest["models"], *self.manifest["objects"]]:
            path = self.path(entry["path"])
            if not path.is_file():
                raise ArchiveError(f"{entry['path']} is listed in the manifest but missing")
            if sha256_of(path) != entry["sha256"]:
                raise ArchiveError(f"{entry['path']}: checksum mismatch")
            if "rows" in entry:
                with path.open("rb") as fh:
                    lines = sum(1 for line in fh if line.strip())
                if lines != entry["rows"]:
                    raise ArchiveError(f"{entry['path']}: {lines} rows, the manifest says {entry['rows']}")

    def rows(self, entry: dict[str, Any]) -> Iterator[DeserializedObject]:
        with self.path(entry["path"]).open("r", encoding="utf-8") as fh:
            try:
                yield from serializers.deserialize("jsonl", fh)
            except DeserializationError as exc:  # a model this code does not have, a value that does not fit
                raise ArchiveError(f"{entry['path']}: {exc}") from exc


@contextmanager
def open_archive(path: Path) -> Iterator[Archive]:
    """The archive at `path` (directory or tarball), its manifest checked against `manifest.json.sha256`."""
    if not path.exists():
        raise ArchiveError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="atrium-import-") as scratch:
        root = path
        if path.is_file():
            try:
                with tarfile.open(path, "r:*") as tar:
                    tar.extractall(scratch, filter="data")  # the data filter refuses links and paths outside
            except (tarfile.TarError, OSError) as exc:
                raise ArchiveError(f"{path}: not a readable archive ({exc})") from exc
            root = Path(scratch)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise ArchiveError(f"{path}: no {MANIFEST}")
        data = manifest_path.read_bytes()
        checksum = hashlib.sha256(data).hexdigest()
        recorded = root / f"{MANIFEST}.sha256"
        if recorded.is_file() and recorded.read_text().split()[:1] != [checksum]:
            raise ArchiveError(f"{MANIFEST}: checksum does not match {MANIFEST}.sha256")
        try:
            manifest = json.loads(data)
        except ValueError as exc:
            raise ArchiveError(f"{MANIFEST} is not JSON") from exc
        if not isinstance(manifest, dict):
            raise ArchiveError(f"{MANIFEST} is not an object")
        yield Archive(root=root, manifest=manifest, manifest_sha256=checksum)
