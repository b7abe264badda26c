"""Study list speed: 10,000 studies, server time of the staff list page and of GET /api/v1/studies/,
printed beside the raw limit (the same page's SQL run directly on PostgreSQL).

Target (issue 2): under 200 ms of server time.

    .venv/bin/python bench/bench_study_list.py   # uses postgres://postgres@127.0.0.1:5432/portal_bench
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "portal_bench"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-list-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"

STUDIES = 10_000
RUNS = 30


def ensure_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f"CREATE DATABASE {BENCH_DB}")


def populate(clinic) -> None:
    from sharing.models import Study

    have = Study.objects.filter(clinic=clinic).count()
    batch = [
        Study(clinic=clinic, study_instance_uid=f"1.2.826.0.1.{index}", patient_name=f"Family{index}, Given{index}",
              patient_id=f"P{index:07d}", patient_sex="F", study_description="OB 2nd trimester", source="dicom",
              sonographers="Sono, Sam", performing_physicians="Doc, Dana", instance_count=12)
        for index in range(have, STUDIES)
    ]
    Study.objects.bulk_create(batch, batch_size=2000)


def timed(fn) -> list[float]:
    fn()  # warm caches and connections
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    if os.environ["DATABASE_URL"].endswith(f"/{BENCH_DB}"):
        ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from sharing.models import Clinic, Study
    from tests.conftest import make_staff

    call_command("migrate", verbosity=0)
    clinic, _ = Clinic.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    populate(clinic)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench").first() or make_staff("bench", clinic)
    client = Client()
    client.force_login(user)
    token, _ = Token.objects.get_or_create(user=user)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    def page():
        assert client.get("/studies/").status_code == 200

    def page_search():
        assert client.get("/studies/", {"q": "Family4242"}).status_code == 200

    def api_list():
        assert api.get("/api/v1/studies/").status_code == 200

    sql = str(Study.objects.filter(clinic=clinic).order_by("-created_at", "-id")[:50].query)

    def raw_sql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM sharing_study WHERE clinic_id = %s", [clinic.pk])
            cursor.execute(sql)
            cursor.fetchall()

    print(f"study list over {Study.objects.filter(clinic=clinic).count():,} studies, {RUNS} runs, median / p95 ms")
    rows = [("raw SQL (count + page), the limit", raw_sql), ("staff list page /studies/", page),
            ("staff list search by name", page_search), ("GET /api/v1/studies/", api_list)]
    reference = None
    for label, fn in rows:
        samples = sorted(timed(fn))
        median, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
        reference = reference or median
        print(f"  {label:38s} {median:7.1f} {p95:7.1f}   x{median / reference:5.1f} of raw SQL   target < 200 ms: {'OK' if p95 < 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
