"""The webhook pages' forms: they only read the fields; what a valid URL or event list is, the service decides.

The URL is a plain text field (not Django's URLField): the SSRF guard in
`endpoints._url_require` is the one judge, and its refusal is shown on the field.
An empty event list goes to the service too, which says why it is refused.
"""

from __future__ import annotations

from typing import Any

from django import forms

from apps.integrations.events import EVENT_TYPES
from apps.integrations.models import WebhookEndpoint

URL_MAX = WebhookEndpoint._meta.get_field("url").max_length or 2000
DESCRIPTION_MAX = WebhookEndpoint._meta.get_field("description").max_length or 200


def event_choices() -> list[tuple[str, str]]:
    """(type, what its data holds) of every event an endpoint may subscribe to, by type."""
    return sorted(EVENT_TYPES.items())


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=URL_MAX,
        required=False,
        help_text="Where the events are POSTed: an https:// address on the public internet.",
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "https://"}),
    )
    description = forms.CharField(
        label="Description (optional)",
        max_length=DESCRIPTION_MAX,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    events = forms.MultipleChoiceField(
        label="Events",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which events are sent to this URL.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = event_choices()  # type: ignore[attr-defined]


class EndpointEditForm(EndpointForm):
    active = forms.BooleanField(
        label="Active",
        required=False,
        help_text="Untick to stop sending events here. Ticking it again clears the run of failed deliveries.",
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointEditForm:
        """The form filled with the endpoint's current settings."""
        initial = {
            "url": endpoint.url,
            "description": endpoint.description,
            "events": list(endpoint.events),
            "active": endpoint.active,
        }
        return cls(initial=initial)
