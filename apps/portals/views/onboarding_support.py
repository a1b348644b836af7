"""What the onboarding page and the dashboard share: the checklist's progress, and a step code from the URL.

Kept apart from either page so that pages do not import each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.common.exceptions import NotFound
from apps.flows.selectors import Checklist, ChecklistStep

# Step codes are slugs (the API's route takes `<slug:code>`); anything else names no step.
_STEP_CODE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    next_step: ChecklistStep | None

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done == self.total


def progress_of(checklist: Checklist) -> Progress:
    """How many steps are done, of how many, and the first one still open (None when all are done)."""
    open_steps = [step for step in checklist.steps if not step.done]
    return Progress(
        done=len(checklist.steps) - len(open_steps),
        total=len(checklist.steps),
        next_step=open_steps[0] if open_steps else None,
    )


def step_code(raw: str) -> str:
    """The step code in a URL, or the 404 page: a code no flow could have is looked up nowhere."""
    if not _STEP_CODE.match(raw):
        raise NotFound("No such step.")
    return raw
