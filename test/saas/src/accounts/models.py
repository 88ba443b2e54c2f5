from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The SaaS's user (table accounts_user)."""

    email = models.EmailField(unique=True)
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
