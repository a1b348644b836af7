from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operator work over every app's data: tenant export, offboarding, import (docs/runbooks/offboarding.md)."""

    name = "apps.operations"
    label = "operations"
