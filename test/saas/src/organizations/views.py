"""/api/v1/organizations/: an organization's tax_id goes through the Fernet field."""
import json

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt

from organizations.models import Organization
from saas import fields


@csrf_exempt
def create(request):
    """POST {"name": ..., "tax_id": ...}: stores tax_id encrypted with the newest key."""
    if request.method != "POST":
        return JsonResponse({"error": "POST"}, status=405)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "body must be JSON"}, status=400)
    name = body.get("name", "")
    if not name:
        return JsonResponse({"error": "name is required"}, status=400)
    slug = body.get("slug") or slugify(name)
    org = Organization.objects.create(name=name, slug=slug, tax_id=body.get("tax_id", ""), created_at=timezone.now())
    return JsonResponse(describe(org), status=201)


def detail(request, pk):
    """GET: the decrypted tax_id, and which key of FIELD_ENCRYPTION_KEY decrypts it."""
    try:
        org = Organization.objects.get(pk=pk)
    except Organization.DoesNotExist:
        return JsonResponse({"error": f"organization {pk} not found"}, status=404)
    except Exception as exc:  # InvalidToken: no current key decrypts the value
        return JsonResponse({"error": f"cannot read organization {pk}: {type(exc).__name__}"}, status=500)
    return JsonResponse(describe(org))


def describe(org):
    with connection.cursor() as cur:
        cur.execute("SELECT tax_id FROM organizations_organization WHERE id = %s", [org.pk])
        token = cur.fetchone()[0]
    return {
        "id": org.pk,
        "name": org.name,
        "slug": org.slug,
        "tax_id": org.tax_id,
        # 0: encrypted with the newest key; 1, 2, ...: with an older one still listed.
        "tax_id_key": fields.key_index(token) if token else None,
    }
