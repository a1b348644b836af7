from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"

    def ready(self) -> None:
        # Answers identity's question "how many bytes does this tenant store?" (billing's usage reads it).
        from apps.files.selectors import file_storage_used
        from apps.identity import plugs

        plugs.plugs.storage_used_bytes = lambda tenant: file_storage_used(tenant=tenant)
