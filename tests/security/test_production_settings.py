"""Production settings pass `manage.py check --deploy` cleanly, and secrets come only from the
environment (or are generated into DATA_DIR, readable by the owner only)."""

from __future__ import annotations

import ast
import math
import os
import re
import secrets
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "portal" / "settings.py"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|^KEY|_SID$|CREDENTIAL|PRIVATE")


def run_manage(*args, env: dict, data_dir: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ANONYMIZER_KEY", "DEBUG", "PRODUCTION", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**base, "DATA_DIR": str(data_dir), **env}, timeout=120)


def test_check_deploy_is_clean_in_production(tmp_path):
    env = {"PRODUCTION": "true", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "portal.example.org"}
    for variant in ({}, {"REDIS_URL": ""}):  # with this machine's Redis (as CI sets it) and the embedded cache
        result = run_manage("check", "--deploy", env={**env, **variant}, data_dir=tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARNINGS" not in output and "ERRORS" not in output, output
        assert "no issues" in output, output


def test_check_deploy_flags_the_embedded_default(tmp_path):
    """The check is not vacuous: without PRODUCTION it reports the missing HTTPS settings."""
    result = run_manage("check", "--deploy", env={}, data_dir=tmp_path)
    assert "security.W004" in result.stdout + result.stderr


def literal_assignments(tree) -> list[tuple[str, str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.append((target.id, node.value.value, node.lineno))
    return found


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def test_no_secret_literal_in_settings():
    tree = ast.parse(SETTINGS.read_text())
    for name, value, line in literal_assignments(tree):
        if SECRET_NAME.search(name) and name not in ("RATELIMIT_IP_META_KEY",):
            assert value == "", f"settings.py:{line} assigns a literal to {name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            looks_random = re.fullmatch(r"[A-Za-z0-9+/=_\-]{24,}", value) and entropy(value) > 4.0
            assert not looks_random, f"settings.py:{node.lineno} holds a secret-looking literal"
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), f"settings.py:{node.lineno} embeds credentials in a URL"


def test_secrets_come_from_the_environment(tmp_path):
    code = ("import django;django.setup();from django.conf import settings as s;"
            "print(s.SECRET_KEY, s.ANONYMIZER_KEY, s.TWILIO_AUTH_TOKEN, s.TWILIO_ACCOUNT_SID)")
    env = {"SECRET_KEY": "from-env-secret", "ANONYMIZER_KEY": "from-env-anon", "TWILIO_AUTH_TOKEN": "from-env-twilio",
           "TWILIO_ACCOUNT_SID": "from-env-sid"}
    result = run_manage("shell", "-c", code, env=env, data_dir=tmp_path)
    assert result.stdout.split()[-4:] == ["from-env-secret", "from-env-anon", "from-env-twilio", "from-env-sid"], result.stderr
    assert not (tmp_path / "secret_key").exists(), "a secret given by the environment is not written to disk"


def test_generated_secrets_are_random_and_private_to_the_owner(tmp_path):
    code = "import django;django.setup();from django.conf import settings as s;print(s.SECRET_KEY)"
    first = run_manage("shell", "-c", code, env={}, data_dir=tmp_path / "a").stdout.split()[-1]
    second = run_manage("shell", "-c", code, env={}, data_dir=tmp_path / "b").stdout.split()[-1]
    assert first != second and len(first) >= 50
    for name in ("secret_key", "anonymizer_key"):
        mode = stat.S_IMODE((tmp_path / "a" / name).stat().st_mode)
        assert mode == 0o600, f"{name} is readable by others: {oct(mode)}"
