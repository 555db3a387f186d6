"""10 agreements and one API key; prints the key."""
from datetime import datetime, timezone

from django.core.management.base import BaseCommand
from rest_framework_api_key.models import APIKey

from peer.models import Agreement


class Command(BaseCommand):
    def handle(self, *args, **options):
        now = datetime.now(timezone.utc)
        for n in range(1, 11):
            Agreement.objects.update_or_create(
                id=f"AGP-000-000-{n:03d}",
                defaults=dict(
                    account_id="VA-000-001",
                    type="distribution",
                    title=f"Agreement {n}",
                    name=f"Vendor agreement {n}",
                    description="An agreement for the benchmark.",
                    active=True,
                    created_at=now,
                    created_by="Benchmark",
                    updated_at=now,
                    updated_by="Benchmark",
                ),
            )
        _, key = APIKey.objects.create_key(name="bench")
        self.stdout.write(key)
