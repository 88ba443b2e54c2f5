"""Celery tasks, run by `celery -A saas worker`; beat schedules expire_subscriptions."""
import os
import socket

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task
def expire_subscriptions():
    """Active subscriptions whose period has ended become expired."""
    from subscriptions.models import Subscription

    n = Subscription.objects.filter(status=Subscription.ACTIVE, current_period_end__lt=timezone.now()).update(
        status=Subscription.EXPIRED
    )
    return {"expired": n}


@shared_task
def ping(token):
    """Answers which worker ran it, with which version: proves the web's task reached it."""
    # HOSTNAME is the pod's name (on the devcluster too, whose pods share the host).
    return {"token": token, "worker": os.environ.get("HOSTNAME") or socket.gethostname(), "version": settings.VERSION}
