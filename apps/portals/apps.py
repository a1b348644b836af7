from django.apps import AppConfig


class PortalsConfig(AppConfig):
    name = "apps.portals"
    label = "portals"
