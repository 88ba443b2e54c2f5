import json

from celery.result import AsyncResult
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from saas.celery import app
from subscriptions import tasks
from subscriptions.models import Subscription


def serialize(s):
    return {
        "id": s.pk,
        "organization": s.organization_id,
        "plan": s.plan,
        "status": s.status,
        "current_period_end": s.current_period_end.isoformat(),
    }


def list_subscriptions(request):
    """GET ?status=active&limit=N: subscriptions, newest first."""
    qs = Subscription.objects.order_by("-id")
    if request.GET.get("status"):
        qs = qs.filter(status=request.GET["status"])
    limit = min(int(request.GET.get("limit", "20")), 200)
    return JsonResponse({"count": qs.count(), "results": [serialize(s) for s in qs[:limit]]})


@csrf_exempt
def publish_task(request):
    """POST {"token": ...}: publishes the ping task to the broker for a worker to run."""
    if request.method != "POST":
        return JsonResponse({"error": "POST"}, status=405)
    try:
        token = json.loads(request.body or b"{}").get("token", "")
    except ValueError:
        return JsonResponse({"error": "body must be JSON"}, status=400)
    result = tasks.ping.delay(token)
    return JsonResponse({"task_id": result.id}, status=202)


def task_result(request, task_id):
    """GET: the task's state (PENDING until a worker ran it) and result."""
    r = AsyncResult(task_id, app=app)
    body = {"task_id": task_id, "state": r.state}
    if r.successful():
        body["result"] = r.result
    return JsonResponse(body)
