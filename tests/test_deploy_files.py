"""What can be checked of `deploy/` without Docker or a cluster: the Dockerfile copies files that
exist, installs the locked set with extras the project declares, its build step runs, and the
code location it serves is the one the Helm values name."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from dagster import Definitions

from tests.host_speed import budget

PROJECT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments), with continued lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in joined.splitlines()]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def test_every_copied_file_exists() -> None:
    copies = [shlex.split(args)[:-1] for name, args in instructions() if name == "COPY"]
    assert copies
    missing = [source for sources in copies for source in sources
               if not (PROJECT / source).exists()]
    assert not missing, missing


def test_the_image_installs_the_locked_set_with_declared_extras() -> None:
    installs = [args for name, args in instructions()
                if name == "RUN" and args.startswith("pip install")]
    assert installs and all("-c requirements.lock" in args for args in installs)
    declared = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
                   ["optional-dependencies"])
    extras = {extra for args in installs for group in re.findall(r'\.\[([^\]]+)\]', args)
              for extra in group.split(",")}
    assert extras and extras <= declared, extras - declared


def test_the_build_step_that_exports_the_query_graph_runs(tmp_path: Path) -> None:
    """The step runs as in the build: the image's environment, no source folder, no state."""
    [step] = [args for name, args in instructions()
              if name == "RUN" and args.startswith("python -c")]
    code = shlex.split(step)[2]
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env |= {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "RAG_DATA_DIR": str(tmp_path / "data"),
            "RAG_MODEL_CACHE_DIR": os.environ["RAG_MODEL_CACHE_DIR"]}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=budget(300))
    assert result.returncode == 0, result.stderr[-2000:]
    graphs = list(Path(env["RAG_MODEL_CACHE_DIR"]).glob("query-models/*/model.onnx"))
    assert graphs


def test_the_code_location_the_helm_values_name_loads() -> None:
    """The module the chart's code-location server loads exists and holds the definitions
    (the image's command and the Helm values must agree on it)."""
    values = yaml.safe_load((PROJECT / "deploy" / "helm-values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    flag, module = deployment["dagsterApiGrpcArgs"]
    assert flag == "--module-name"
    command = json.loads(dict(instructions())["CMD"])
    assert command[command.index("-m") + 1] == module
    assert isinstance(importlib.import_module(module).defs, Definitions)


def test_the_run_launcher_settings_are_k8s_run_launcher_fields() -> None:
    """The chart passes `runLauncher.config.k8sRunLauncher` to dagster-k8s's launcher, its
    camelCase keys as the launcher's snake_case fields: each key used here must be one."""
    from dagster_k8s import K8sRunLauncher

    values = yaml.safe_load((PROJECT / "deploy" / "helm-values.yaml").read_text())
    launcher = values["runLauncher"]
    assert launcher["type"] == K8sRunLauncher.__name__
    fields = set(K8sRunLauncher.config_type().keys())
    used = {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
            for key in launcher["config"]["k8sRunLauncher"]}
    assert used and used <= fields, used - fields
