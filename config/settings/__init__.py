"""Atrium settings: one configuration for every environment, read from the env.

`base` holds Django's own settings; each integration has its own module. The
production guard runs last, so a bad deploy stops at start-up naming the
variable to fix.
"""

from config.settings.base import *  # noqa: F403
from config.settings.billing import *  # noqa: F403
from config.settings.drf import *  # noqa: F403
from config.settings.guard import check_production_settings
from config.settings.integrations import *  # noqa: F403
from config.settings.jwt import *  # noqa: F403
from config.settings.lockout import *  # noqa: F403
from config.settings.logging import *  # noqa: F403
from config.settings.otp import *  # noqa: F403
from config.settings.rq import *  # noqa: F403
from config.settings.security import *  # noqa: F403
from config.settings.social import *  # noqa: F403
from config.settings.spectacular import *  # noqa: F403
from config.settings.storages import *  # noqa: F403

check_production_settings()
