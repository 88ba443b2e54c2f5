from django.urls import include, path

from organizations import views as organizations
from saas import health, session
from subscriptions import views as subscriptions

urlpatterns = [
    path("", include("django_prometheus.urls")),  # /metrics
    path("api/v1/health/", health.health),
    path("api/v1/session/", session.session),
    path("api/v1/organizations/", organizations.create),
    path("api/v1/organizations/<int:pk>/", organizations.detail),
    path("api/v1/subscriptions/", subscriptions.list_subscriptions),
    path("api/v1/tasks/", subscriptions.publish_task),
    path("api/v1/tasks/<str:task_id>/", subscriptions.task_result),
]
