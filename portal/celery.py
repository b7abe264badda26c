"""The Celery application. Tasks subclass celery.contrib.django's DjangoTask, which
gives `delay_on_commit`: nothing is enqueued for a transaction that rolls back."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
