from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "apps.flows"
    label = "flows"

    def ready(self) -> None:
        # Flows answers identity's "tenant created" question: every new tenant starts with onboarding steps.
        from apps.flows.services import flow_tenant_created
        from apps.identity.plugs import on_tenant_created

        on_tenant_created(flow_tenant_created)
