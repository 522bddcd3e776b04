"""System checks (weft.E001 ...), one module per concern; ``apps.WeftConfig.ready`` registers them.

settings: the WEFT_* tunables (E001-E019, E050-E054); broker: the Celery app, its broker and what
recovery relies on (E020, W021, E030-E031, W030-W032); api: the HTTP API's schema class (W040);
llm: WEFT_LLM (E080-E081); retention: WEFT_RETENTION, WEFT_PRUNE_BATCH (E055-E056);
notify: WEFT_NOTIFICATIONS (E057); policies: the policy rules of the settings and the file (E070-E074);
gates: the limits in the settings (E060-E063, W064).
docs/settings.md lists every ID.
"""

from __future__ import annotations

from .api import check_api
from .broker import check_celery_app, check_reliability
from .gates import check_limits
from .llm import check_llm
from .notify import check_notifications
from .policies import check_policies
from .retention import check_retention
from .settings import check_permissions, check_results_and_queues, check_settings

__all__ = ["check_api", "check_celery_app", "check_limits", "check_llm", "check_notifications", "check_permissions",
           "check_policies", "check_reliability", "check_results_and_queues", "check_retention", "check_settings"]
