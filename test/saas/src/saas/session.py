"""/api/v1/session/: POST {"user": NAME} starts a session (a cookie signed with
DJANGO_SECRET_KEY); GET says whether the request's session cookie is valid."""
import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def session(request):
    if request.method == "POST":
        try:
            user = json.loads(request.body or b"{}").get("user", "")
        except ValueError:
            return JsonResponse({"error": "body must be JSON"}, status=400)
        if not user:
            return JsonResponse({"error": "user is required"}, status=400)
        request.session["user"] = user
        return JsonResponse({"valid": True, "user": user})
    if request.method != "GET":
        return JsonResponse({"error": "GET or POST"}, status=405)
    user = request.session.get("user")
    if not user:
        # A cookie whose signature no current key verifies reads as an empty session.
        return JsonResponse({"valid": False, "cookie": "sessionid" in request.COOKIES}, status=401)
    return JsonResponse({"valid": True, "user": user})
