"""tests/unit runs the protocol core without moto, an AWS SDK or Chalice: proven in a fresh interpreter,
so it holds in a full run too, where other layers have loaded them (tests/unit/conftest.py checks a run of
this layer alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A client registered through the admin function gets a token: client lookup, pepper, keys, state store.
SCRIPT = """
import json, sys
from urllib.parse import urlencode
from chalicelib.keys.jwkset import initial_keyset
from tests.conftest import FORM, admin_register, basic
from tests.unit.conftest import loaded_forbidden
from tests.unit.core import CoreHttp, use_memory_core

use_memory_core(initial_keyset())
client = admin_register(grant_types=["client_credentials"], scope="a")
headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
answer = CoreHttp().post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
print(json.dumps({"status": answer.status_code, "loaded": loaded_forbidden()}))
"""


def test_the_core_issues_a_token_on_memory_adapters_without_loading_moto_an_aws_sdk_or_chalice():
    env = {"STAGE": "local", "ISSUER_URL": "http://127.0.0.1:8000", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": 200, "loaded": []}
