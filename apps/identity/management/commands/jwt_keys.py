"""`manage.py jwt_keys add|list|prune`: the signing keys in JWT_KEYS_DIR.

Rotation: `add` writes a new key, which signs from then on; every key in the
directory still verifies, so tokens signed by the previous key stay valid.
Once the previous key can have signed no live token (access tokens live
ACCESS_TOKEN_LIFETIME), `prune` removes all but the newest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.identity.tokens import generate_key_file, keyring

CLOCK_SKEW_SECONDS = 300


class Command(BaseCommand):
    help = "Manage the JWT signing keys: add (rotate), list, prune old keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["add", "list", "prune"])
        parser.add_argument(
            "--yes", action="store_true", help="prune even if the previous key may have signed live tokens"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(settings.JWT_KEYS_DIR)
        action = options["action"]
        if action == "add":
            path = generate_key_file(directory)
            self.stdout.write(self.style.SUCCESS(f"added {path.name}; kid {keyring.signing_key().kid} signs from now"))
            if settings.JWT_PRIVATE_KEY:
                self.stdout.write(self.style.WARNING("JWT_PRIVATE_KEY is set: that key keeps signing until unset."))
            self.stdout.write("keep the previous key until its tokens expire, then run `manage.py jwt_keys prune`.")
        elif action == "list":
            keys = keyring.keys()
            if not keys:
                self.stdout.write("no keys")
            for key in keys:
                role = "signs" if key is keys[-1] else "verifies"
                self.stdout.write(f"{key.kid}  {role:<8}  {key.source}")
        else:
            self._prune(directory, force=options["yes"])

    def _prune(self, directory: Path, *, force: bool) -> None:
        files = sorted(directory.glob("*.pem"))
        if len(files) < 2:
            self.stdout.write("nothing to prune")
            return
        newest = files[-1]
        age = datetime.now(tz=UTC).timestamp() - newest.stat().st_mtime
        # Access tokens live ACCESS_TOKEN_LIFETIME; the margin covers clocks that disagree.
        safe_after = settings.ACCESS_TOKEN_LIFETIME.total_seconds() + CLOCK_SKEW_SECONDS
        if age < safe_after and not force:
            wait = int(safe_after - age) + 1
            raise CommandError(
                f"The newest key is {int(age)}s old: tokens signed by the previous key may still be alive. "
                f"Wait {wait}s, or pass --yes."
            )
        for path in files[:-1]:
            path.unlink()
            self.stdout.write(f"removed {path.name}")
