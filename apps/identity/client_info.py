"""Who is on the other end of a request, as the sign-in services need it: address, agent, known-device mark."""

from __future__ import annotations

from django.http import HttpRequest

from apps.common.net import client_ip, user_agent
from apps.identity.services.lockout import DEVICE_COOKIE
from apps.identity.services.sessions import ClientInfo


def client_info(request: HttpRequest) -> ClientInfo:
    """The client of `request`: the API's token endpoints and the portal's sign-in pages both ask this."""
    return ClientInfo(
        ip=client_ip(request), user_agent=user_agent(request), device=request.COOKIES.get(DEVICE_COOKIE, "")
    )
