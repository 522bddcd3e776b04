"""The Celery app of the RabbitMQ tests: the test settings with an AMQP broker (WEFT_TEST_AMQP_URL).

Priority queues as weft.W032 asks: the queues Celery declares carry x-max-priority.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

AMQP_URL = os.environ.get("WEFT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

app = Celery("weft_tests_amqp", broker=AMQP_URL)  # ahead of CELERY_BROKER_URL in the settings
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queue_max_priority = 10
app.autodiscover_tasks(["weft_django"])
