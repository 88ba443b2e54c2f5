"""A text field stored encrypted with Fernet, under the keys of FIELD_ENCRYPTION_KEY."""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def fernets():
    """The Fernets of FIELD_ENCRYPTION_KEY, newest (the one that encrypts) first."""
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set")
    try:
        return [Fernet(k.encode()) for k in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY holds a key that is not a Fernet key: {exc}") from None


def multifernet():
    return MultiFernet(fernets())


def key_index(token):
    """Which key of FIELD_ENCRYPTION_KEY (0 = newest) decrypts token; None if none does."""
    for i, f in enumerate(fernets()):
        try:
            f.decrypt(token.encode())
            return i
        except InvalidToken:
            continue
    return None


class EncryptedTextField(models.TextField):
    """Stores a Fernet token; reads back the plain text. Values written under a key
    that has since been removed from FIELD_ENCRYPTION_KEY fail to read (InvalidToken)."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return multifernet().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return multifernet().decrypt(value.encode()).decode()
