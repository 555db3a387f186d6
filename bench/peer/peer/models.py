from django.db import models


class Agreement(models.Model):
    """The fields tokendesk's AgreementOut has."""

    id = models.CharField(primary_key=True, max_length=32)
    account_id = models.CharField(max_length=32, db_index=True)
    type = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=200)

    class Meta:
        app_label = "peer"
        ordering = ["id"]
