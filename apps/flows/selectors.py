"""Reads of flows and analytics: a user's checklist, their runs, and the daily analytics counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum

from apps.common.tenancy import TenantLike
from apps.flows.models import ONBOARDING, AnalyticsDaily, FlowDefinition, FlowRun, Step, StepCompletion


@dataclass(frozen=True)
class ChecklistStep:
    code: str
    title: str
    completed_at: datetime | None

    @property
    def done(self) -> bool:
        return self.completed_at is not None


@dataclass(frozen=True)
class Checklist:
    flow: str
    steps: list[ChecklistStep] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        """Every step done; a flow with no steps is not "completed" (there was nothing to do)."""
        return bool(self.steps) and all(step.done for step in self.steps)


def flow_definition_for(*, code: str, portal: str = "") -> FlowDefinition | None:
    """The current tenant's flow `code` for portal slug `portal`: the portal's own if it has one, else the tenant's."""
    return (
        FlowDefinition.objects.filter(code=code)
        .filter(Q(portal__isnull=True) | Q(portal__slug=portal))
        .order_by(F("portal_id").asc(nulls_last=True))
        .first()
    )


def checklist_get(*, tenant: TenantLike, user_id: UUID, portal: str = "", flow: str = ONBOARDING) -> Checklist:
    """`user_id`'s checklist of flow `flow` (two queries; no write). Empty steps when the tenant has none."""
    definition = flow_definition_for(code=flow, portal=portal)
    if definition is None:
        return Checklist(flow=flow)
    done_at = StepCompletion.objects.filter(step_id=OuterRef("pk"), run__user_id=user_id).values("completed_at")[:1]
    rows = (
        Step.objects.filter(tenant_id=tenant.id, flow=definition)
        .annotate(done_at=Subquery(done_at))
        .order_by("order", "code")
        .values_list("code", "title", "done_at")
    )
    return Checklist(flow=flow, steps=[ChecklistStep(code=c, title=t, completed_at=d) for c, t, d in rows])


def flow_run_list(*, tenant: TenantLike, user_id: UUID) -> QuerySet[FlowRun]:
    """`user_id`'s runs in the current tenant, newest first, with the flow's code (one query per page)."""
    return (
        FlowRun.objects.filter(tenant_id=tenant.id, user_id=user_id)
        .select_related("flow")
        .only("id", "started_at", "completed_at", "flow__code")
        .order_by("-started_at", "-id")
    )


def analytics_daily_list(
    *, tenant: TenantLike, since: date, until: date, event: str | None = None
) -> QuerySet[AnalyticsDaily]:
    """The tenant's daily counts for days `since`..`until` (inclusive), oldest first; one event's when named."""
    rows = AnalyticsDaily.objects.filter(tenant_id=tenant.id, day__gte=since, day__lte=until)
    if event is not None:
        rows = rows.filter(event=event)
    return rows.order_by("day", "event")


def analytics_totals(*, tenant: TenantLike, since: date, until: date) -> dict[str, int]:
    """Event name → count over days `since`..`until` (inclusive), from the roll-up: what a usage page shows."""
    rows = (
        AnalyticsDaily.objects.filter(tenant_id=tenant.id, day__gte=since, day__lte=until)
        .order_by()
        .values_list("event")
        .annotate(total=Sum("count"))
    )
    return {name: int(total or 0) for name, total in rows}
