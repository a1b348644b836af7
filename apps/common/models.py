"""Abstract base models every Atrium table builds on."""

from __future__ import annotations

import uuid

from django.db import models


class UUIDModel(models.Model):
    """UUID primary key: ids in URLs reveal neither counts nor order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class BaseModel(UUIDModel, TimestampedModel):
    """UUID id plus created/updated timestamps."""

    class Meta:
        abstract = True
