"""Plain ``chalice deploy`` / ``chalice package`` on a fresh checkout, and a Lambda package without PynamoDB.

Both run the real thing in a subprocess: the chalice CLI in a fresh copy of
the repository (tracked files only, as a clone has them), and ``import app``
in an interpreter whose path holds everything the package would but PynamoDB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHALICE = Path(sys.executable).with_name("chalice")
OFFLINE = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a commit of this checkout would hold: no vendor/, no policy files, no deployed state."""
    clone = tmp_path_factory.mktemp("clone")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, clone / name)
    shutil.rmtree(clone / ".chalice" / "deployed", ignore_errors=True)  # a stage never deployed
    return clone


def run_chalice(clone: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")} | OFFLINE
    return subprocess.run(
        [str(CHALICE), *arguments], cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("command", [["package", "--stage", "dev", "out"], ["deploy", "--stage", "dev"]])
def test_chalice_before_make_infra_stops_with_one_line_naming_make_infra(fresh_clone, command):
    done = run_chalice(fresh_clone, *command)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Traceback" not in output
    (line,) = output.splitlines()
    assert "make infra STAGE=dev" in line and "vendor/pynamodb" in line and ".chalice/policies/dev-" in line
    assert not (fresh_clone / "out").exists()


def test_chalice_deploy_with_package_only_policies_is_refused(fresh_clone, tmp_path):
    """make package writes logs-only policies: a chalice deploy with them would run every function without data."""
    policies, vendor = fresh_clone / ".chalice" / "policies", fresh_clone / "vendor" / "pynamodb"
    policies.mkdir(parents=True)
    vendor.mkdir(parents=True)
    try:
        logs_only = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"]}]}'
        for function in ("api_handler", "admin", "interactions", "rotate_keys"):
            (policies / f"dev-{function}.json").write_text(logs_only)
        done = run_chalice(fresh_clone, "deploy", "--stage", "dev")
        (line,) = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode != 0 and "make infra STAGE=dev" in line and "make package" in line
    finally:
        shutil.rmtree(policies)
        shutil.rmtree(vendor.parent)


# --------------------------------------------------------------------------- a package without PynamoDB


def _site_without(tmp_path: Path, hidden: str) -> Path:
    """This interpreter's site-packages, minus ``hidden``: what a package built without vendor/ holds."""
    site = tmp_path / "site"
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(hidden):
            (site / entry.name).symlink_to(entry)
    return site


def _import_app(tmp_path: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{REPO}{os.pathsep}{site}", "STAGE": "dev"}
    return subprocess.run(
        [sys.executable, "-S", "-c", "import app"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )


def test_a_container_without_pynamodb_says_so_in_one_log_line_at_start(tmp_path):
    done = _import_app(tmp_path, _site_without(tmp_path, "pynamodb"))
    assert done.returncode == 0, done.stderr  # the container still starts: discovery and JWKS need no table
    (line,) = (done.stdout + done.stderr).strip().splitlines()
    assert "PynamoDB" in line and "vendor/" in line and '"level": "ERROR"' in line


def test_a_container_with_pynamodb_logs_nothing_at_start(tmp_path):
    done = _import_app(tmp_path, _site_without(tmp_path, "nothing-hidden"))
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).strip() == ""


def test_a_policy_file_that_is_not_json_is_named_in_the_one_line(fresh_clone):
    policies, vendor = fresh_clone / ".chalice" / "policies", fresh_clone / "vendor" / "pynamodb"
    policies.mkdir(parents=True)
    vendor.mkdir(parents=True)
    try:
        for function in ("api_handler", "admin", "interactions", "rotate_keys"):
            (policies / f"dev-{function}.json").write_text('{"Statement": [')
        done = run_chalice(fresh_clone, "deploy", "--stage", "dev")
        output = (done.stdout + done.stderr).strip()
        assert "Traceback" not in output
        (line,) = output.splitlines()
        assert done.returncode != 0 and "dev-api_handler.json is not JSON" in line and "make infra STAGE=dev" in line
    finally:
        shutil.rmtree(policies)
        shutil.rmtree(vendor.parent)
