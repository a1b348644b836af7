"""Flows (ordered steps a user works through, per tenant) and product analytics (an append-only event log).

Every table is tenant scoped (`TenantScopedModel`, FORCEd row-level security in
the migrations). Analytics events live in their own table, not in the audit
chain: recording one is a plain INSERT, never a wait on the tenant's audit head.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils import timezone

from apps.common.models import AllTenantsManager, TenantScopedManager, TenantScopedModel
from apps.flows.managers import AppendOnlyError, AppendOnlyQuerySet
from apps.identity.models import Portal, User

ONBOARDING = "onboarding"


class FlowDefinition(TenantScopedModel):
    """A named flow of a tenant (`onboarding`), for the whole tenant (`portal` NULL) or for one of its portals."""

    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    portal = models.ForeignKey(Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "code"],
                condition=models.Q(portal__isnull=True),
                name="flows_definition_tenant_code_unique",
            ),
            models.UniqueConstraint(
                fields=["tenant", "code", "portal"],
                condition=models.Q(portal__isnull=False),
                name="flows_definition_portal_code_unique",
            ),
        ]
        # `flow_definition_for` (every portal home page and checklist) asks for the tenant's or the portal's
        # flow in one query: an OR that neither partial unique index above can serve.
        indexes: ClassVar = [models.Index(fields=["tenant", "code"], name="flows_definition_tenant_code")]

    def __str__(self) -> str:
        return self.code


class Step(TenantScopedModel):
    """One step of a flow; steps are shown by `order`, then code."""

    flow = models.ForeignKey(FlowDefinition, on_delete=models.CASCADE, related_name="steps")
    code = models.SlugField(max_length=50)
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField(default=0)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "flow", "code"], name="flows_step_flow_code_unique")
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "flow", "order"], name="flows_step_flow_order")]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class FlowRun(TenantScopedModel):
    """A user's progress through one flow: made at their first completed step, completed with the last."""

    flow = models.ForeignKey(FlowDefinition, on_delete=models.CASCADE, related_name="runs")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "flow", "user"], name="flows_run_flow_user_unique")
        ]
        # The runs list: one user's runs, newest first, paged by cursor on (started_at, id).
        indexes: ClassVar = [
            models.Index(fields=["tenant", "user", "-started_at", "-id"], name="flows_run_user_started")
        ]

    def __str__(self) -> str:
        return f"run of {self.flow_id} by {self.user_id}"


class StepCompletion(TenantScopedModel):
    """That a run's user completed a step, once."""

    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="completions")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "run", "step"], name="flows_completion_run_step_unique")
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "step"], name="flows_completion_step")]

    def __str__(self) -> str:
        return f"{self.step_id} done in {self.run_id}"


class AnalyticsEvent(TenantScopedModel):
    """One product-analytics event. Append-only: the ORM refuses updates and deletes, and so does PostgreSQL.

    `user` keeps no foreign-key constraint and is left alone when the user goes
    (a log is not rewritten); `portal` is the slug the event came through.
    """

    updated_at = None  # type: ignore[assignment]  # never updated
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    portal = models.SlugField(max_length=50, blank=True, default="")
    event = models.CharField(max_length=64)
    properties = models.JSONField(default=dict, blank=True)

    objects: TenantScopedManager[Any] = TenantScopedManager.from_queryset(AppendOnlyQuerySet)()
    all_tenants: AllTenantsManager[Any] = AllTenantsManager.from_queryset(AppendOnlyQuerySet)()

    class Meta(TenantScopedModel.Meta):
        # The roll-up reads one tenant's day: a range on created_at within the tenant.
        indexes: ClassVar = [models.Index(fields=["tenant", "created_at"], name="flows_analytics_tenant_time")]

    def __str__(self) -> str:
        return self.event

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Analytics events are append-only: an event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Analytics events are append-only: an event is never deleted.")


class AnalyticsDaily(TenantScopedModel):
    """How many events of one name a tenant recorded on one UTC day (rebuilt by `analytics_rollup`)."""

    day = models.DateField()
    event = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "day", "event"], name="flows_analytics_daily_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.event}: {self.count}"
