"""Per-tenant infrastructure sizes by billing plan, and the tenant's host name.

Pure data, the one home of the table: `manage.py tenant_tfvars` prints the
plan's row into the tenant's Terraform variables (infra/terraform/envs/tenant,
`sizes`), and tests compare its keys with the module's `sizes` type. Sizes
matter for silo tenants (their own RDS, ElastiCache and ECS services); pooled
tenants run in the shared stack and carry them only for a later move to silo.
"""

from __future__ import annotations

from typing import Final, TypedDict

from django.conf import settings

DEFAULT_TENANT_DOMAIN: Final = "atrium.example.com"


class InfraSizes(TypedDict):
    db_instance_class: str
    db_allocated_storage: int  # GiB; storage autoscaling may grow it to four times this
    db_multi_az: bool  # also gives Redis a replica with automatic failover
    redis_node_type: str
    web_count: int
    worker_count: int
    cpu: int  # Fargate CPU units per task (1024 = one vCPU)
    memory: int  # MiB per task


SIZES_BY_PLAN: Final[dict[str, InfraSizes]] = {
    "free": {
        "db_instance_class": "db.t4g.micro",
        "db_allocated_storage": 20,
        "db_multi_az": False,
        "redis_node_type": "cache.t4g.micro",
        "web_count": 1,
        "worker_count": 1,
        "cpu": 256,
        "memory": 512,
    },
    "pro": {
        "db_instance_class": "db.t4g.medium",
        "db_allocated_storage": 50,
        "db_multi_az": False,
        "redis_node_type": "cache.t4g.small",
        "web_count": 2,
        "worker_count": 1,
        "cpu": 512,
        "memory": 1024,
    },
    "enterprise": {
        "db_instance_class": "db.r6g.large",
        "db_allocated_storage": 100,
        "db_multi_az": True,
        "redis_node_type": "cache.r6g.large",
        "web_count": 4,
        "worker_count": 2,
        "cpu": 1024,
        "memory": 2048,
    },
}


def sizes_for_plan(plan_code: str) -> InfraSizes | None:
    """The plan's sizes, or None for a plan the table does not know (the caller refuses to guess)."""
    sizes = SIZES_BY_PLAN.get(plan_code)
    return None if sizes is None else InfraSizes(**sizes)


def tenant_domain_suffix() -> str:
    """The setting `ATRIUM_TENANT_DOMAIN`: the zone that holds `<slug>.<suffix>`."""
    configured = getattr(settings, "ATRIUM_TENANT_DOMAIN", "")
    return str(configured).strip().strip(".").lower() or DEFAULT_TENANT_DOMAIN


def tenant_domain(slug: str) -> str:
    """The tenant's host name: `<slug>.<ATRIUM_TENANT_DOMAIN>`."""
    return f"{slug}.{tenant_domain_suffix()}"
