import contextlib

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Outbound webhooks: identity, billing, files and flows publish events through `identity.plugs`."""

    name = "apps.integrations"
    label = "integrations"

    def ready(self) -> None:
        from apps.common.jobs import JOBS_METRICS
        from apps.identity import plugs
        from apps.integrations.metrics import WEBHOOK_METRICS
        from apps.integrations.services.publish import event_publish_hook

        plugs.on_domain_event(event_publish_hook)
        # Read at scrape time beside the job metrics (`/metrics`, apps.common.views).
        with contextlib.suppress(ValueError):  # already registered (ready() ran before in this process)
            JOBS_METRICS.register(WEBHOOK_METRICS)
