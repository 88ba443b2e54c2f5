from django.db import models

from saas.fields import EncryptedTextField


class Organization(models.Model):
    """A customer of the SaaS (table organizations_organization)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    # Encrypted at rest with FIELD_ENCRYPTION_KEY.
    tax_id = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField()

    def __str__(self):
        return self.name
