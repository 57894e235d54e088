"""Deployment size: ``chalice package`` of a copy of the project, unzipped to prove it runs.

Chalice puts into the zip the Lambda wheels of ``requirements.txt`` and the
``vendor/`` directory as it is.  boto3 and botocore are part of the Lambda
Python runtime, so the zip must not carry them (goal ≤ 8 MB): PynamoDB,
which depends on botocore, is vendored without its dependencies
(``make vendor``) rather than listed in ``requirements.txt``.

The copy keeps this run from touching the repository's ``.chalice/`` while
others package or deploy; Chalice's dependency cache lives under
``.local/bench/`` so the wheels are downloaded once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.coldstart import REPO_ROOT
from bench.world import DUMMY_AWS_ENV

PROJECT = ("app.py", "chalicelib", "vendor", "requirements.txt", ".chalice")
NOT_COPIED = shutil.ignore_patterns("__pycache__", "deployments", "deployed", "*.pyc")
CACHE = REPO_ROOT / ".local" / "bench" / "chalice-deployments"
SDK = ("boto3", "botocore", "s3transfer")
TIMEOUT_SECONDS = 240


@dataclass
class PackageFigures:
    stage: str
    ok: bool
    seconds: float
    zip_bytes: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)  # top-level entries, compressed bytes
    carries_sdk: list[str] = field(default_factory=list)  # boto3 / botocore / s3transfer found in the zip
    memory_mb: int | None = None
    architecture: str | None = None
    runtime: str | None = None
    error: str | None = None

    @property
    def megabytes(self) -> float:
        return self.zip_bytes / 1_000_000


def _copy_project(target: Path) -> None:
    target.mkdir(parents=True)
    for name in PROJECT:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=NOT_COPIED)
        elif source.exists():
            shutil.copy2(source, target / name)
    CACHE.mkdir(parents=True, exist_ok=True)
    (target / ".chalice" / "deployments").symlink_to(CACHE)


def _chalice() -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    return [str(script)] if script.exists() else [sys.executable, "-m", "chalice.cli"]


def build(stage: str, workdir: Path) -> tuple[PackageFigures, Path | None]:
    """Package ``stage``; the figures, and the zip's path when it was built."""
    project, out = workdir / "project", workdir / "out"
    _copy_project(project)
    env = {**os.environ, **DUMMY_AWS_ENV}
    start = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - the venv's own chalice
            [*_chalice(), "package", "--stage", stage, str(out)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return PackageFigures(stage, False, TIMEOUT_SECONDS, error=f"timed out after {TIMEOUT_SECONDS} s"), None
    seconds = time.perf_counter() - start
    archive = out / "deployment.zip"
    if done.returncode != 0 or not archive.exists():
        reason = (done.stderr or done.stdout).strip()[-1500:]
        return PackageFigures(stage, False, seconds, error=f"`chalice package` failed: {reason}"), None
    return _inspect(stage, seconds, archive, out / "sam.json"), archive


def _inspect(stage: str, seconds: float, archive: Path, template: Path) -> PackageFigures:
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            sizes[info.filename.split("/", 1)[0]] += info.compress_size
    handler = json.loads(template.read_text())["Resources"].get("APIHandler", {}).get("Properties", {})
    return PackageFigures(
        stage=stage,
        ok=True,
        seconds=seconds,
        zip_bytes=archive.stat().st_size,
        largest=sizes.most_common(6),
        carries_sdk=sorted(name for name in sizes if name in SDK),
        memory_mb=handler.get("MemorySize"),
        architecture=(handler.get("Architectures") or ["x86_64"])[0],
        runtime=handler.get("Runtime"),
    )


def unzip(archive: Path, target: Path) -> Path:
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
    return target


def default_stage() -> str:
    """The production stage if the project declares one: its memory is what the cost model should use."""
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    stages = config.get("stages", {})
    return next((name for name in ("prod", "dev") if name in stages), "dev")
