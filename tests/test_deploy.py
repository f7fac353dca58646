"""deploy/: the image, Compose, Kubernetes and systemd files are exact, linted and consistent.

Images cannot be built here, so the Dockerfile is checked by hadolint and by resolving every
path it copies; Kubernetes manifests by kubernetes-validate (strict schemas) and checkov; the
Compose file and units against the settings table.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chat_service.settings import SETTINGS_DOC

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
KNOWN_VARS = {env for env, _ in SETTINGS_DOC.values()}
K8S_VERSION = "1.31"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            joined.append(full)
    result = []
    for line in joined:
        instruction, _, rest = line.partition(" ")
        result.append((instruction.upper(), rest.strip()))
    return result


def stages(path: Path) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions(path):
        if instruction == "FROM":
            out.append([])
        out[-1].append((instruction, args))
    return out


# --- Dockerfile ---------------------------------------------------------------------------------


def test_every_path_the_dockerfile_copies_from_the_context_exists() -> None:
    missing = []
    copied = 0
    for instruction, args in dockerfile_instructions(DEPLOY / "Dockerfile"):
        if instruction not in {"COPY", "ADD"}:
            continue
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        if "--from=" in args:
            continue
        for source in words[:-1]:
            copied += 1
            if not (REPO / source).exists():
                missing.append(source)
    assert copied >= 8
    assert not missing, f"the Dockerfile copies paths that do not exist: {missing}"


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    widget, python, final = stages(DEPLOY / "Dockerfile")
    assert widget[0][1].startswith("node:") and "AS widget" in widget[0][1]
    assert any(i == "RUN" and "npm run" in a and "build" in a for i, a in widget)
    runs = " ".join(a for i, a in python if i == "RUN")
    assert "--require-hashes -r locks/requirements.txt" in runs
    assert "--no-deps ." in runs
    base = final[0][1]
    assert "slim" in base and " AS " not in base
    user = [a for i, a in final if i == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    health = [a for i, a in final if i == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert ("STOPSIGNAL", "SIGTERM") in final
    final_text = " ".join(a for _, a in final)
    for compiler in ("gcc", "build-essential", "clang", "apt-get install"):
        assert compiler not in final_text
    copies = [a for i, a in final if i == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies), "the final stage takes only built artefacts"


def test_hadolint_passes_the_dockerfile_and_rejects_a_bad_one(tmp_path: Path) -> None:
    hadolint = BIN / "hadolint"
    ok = subprocess.run([hadolint, DEPLOY / "Dockerfile"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install flask\n")
    result = subprocess.run([hadolint, bad], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "DL3007" in result.stdout


# --- Compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    return data


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_sets_only_documented_settings(compose: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text()
    seen = set()
    for name, service in compose["services"].items():
        for var in env_of(service):
            if var.startswith("CHAT_") or var == "MONGODB_URI":
                seen.add(var)
                assert var in KNOWN_VARS, f"{name} sets {var}, which is not a setting"
                assert f"`{var}`" in readme, f"{var} is missing from the README's configuration table"
    assert {"MONGODB_URI", "CHAT_MASTER_KEY_FILE", "CHAT_HMAC_KEYS_FILE", "CHAT_REDIS_URL"} <= seen


def test_compose_has_a_tagged_three_member_replica_set(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mongos = [n for n, s in services.items() if "--replSet" in s.get("command", [])]
    assert len(mongos) == 3
    init = (DEPLOY / "compose" / "mongo-init.js").read_text()
    members = re.findall(r'host: "(\w+):27017", tags: \{ region: "(\w+)" \}', init)
    assert sorted(host for host, _ in members) == sorted(mongos)
    allowed = set(env_of(services["chat1"])["CHAT_ALLOWED_REGIONS"].split(","))
    assert {region for _, region in members} <= allowed
    assert "rs.initiate" in init
    uri = env_of(services["chat1"])["MONGODB_URI"]
    assert all(f"{m}:27017" in uri for m in mongos) and "replicaSet=rs0" in uri


def test_compose_runs_two_nodes_behind_a_sticky_websocket_proxy_and_the_retention_job(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    nodes = [n for n, s in services.items() if s.get("command", ["run"]) == ["run"] and "build" in s]
    assert sorted(nodes) == ["chat1", "chat2"]
    for node in nodes:
        service = services[node]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert env_of(service)["CHAT_REDIS_URL"].startswith("redis://redis:")
    caddy = (DEPLOY / "compose" / "Caddyfile").read_text()
    assert "lb_policy cookie" in caddy and "health_uri /readyz" in caddy
    assert all(f"{node}:8080" in caddy for node in nodes)
    assert "chat-retention run" in " ".join(services["retention"]["command"])
    assert "redis" in services


def test_compose_secrets_are_files_apart_from_the_database_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = compose["secrets"]
    assert set(declared) == {"master_keys", "hmac_keys", "smtp_password"}
    db_volumes = {
        v.split(":")[0] for s in services.values() if "--replSet" in s.get("command", []) for v in s["volumes"]
    }
    assert db_volumes == {"mongo1-data", "mongo2-data", "mongo3-data"}
    for name, service in services.items():
        mounts = {str(v).split(":")[0] for v in service.get("volumes", [])}
        if service.get("secrets"):
            assert not mounts & db_volumes, f"{name} holds secrets and a database volume"
        else:
            assert not any(k in json.dumps(env_of(service)) for k in ("/run/secrets",))
    for secret in declared.values():
        assert secret["file"].startswith("./secrets/")
    env = env_of(services["chat1"])
    assert env["CHAT_MASTER_KEY_FILE"] == "/run/secrets/master_keys"
    assert env["CHAT_HMAC_KEYS_FILE"] == "/run/secrets/hmac_keys"
    assert env["CHAT_SMTP_PASSWORD_FILE"] == "/run/secrets/smtp_password"
    ignored = (DEPLOY / "compose" / "secrets" / ".gitignore").read_text().split()
    assert {Path(s["file"]).name for s in declared.values()} <= set(ignored)


# --- Kubernetes ---------------------------------------------------------------------------------


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def by_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_documents() if doc["kind"] == kind]
    assert len(found) >= 1, kind
    return found[0]


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    docs = k8s_documents()
    kinds = {doc["kind"] for _, doc in docs}
    assert {
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "CronJob",
        "NetworkPolicy",
        "ConfigMap",
    } <= kinds
    for _, doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The validator is not vacuous: a misspelt field fails.
    broken = copy.deepcopy(by_kind("Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomizations_name_files_that_exist() -> None:
    for kustomization in (DEPLOY / "k8s").rglob("kustomization.yaml"):
        data = yaml.safe_load(kustomization.read_text())
        for resource in data["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_deployment_probes_drain_and_security_context_match_the_server() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    config = by_kind("ConfigMap")["data"]
    grace = int(config["CHAT_DRAIN_GRACE_SECONDS"])
    assert "preStop" in server["lifecycle"]
    pre_stop = int(re.search(r"sleep\((\d+)\)", " ".join(server["lifecycle"]["preStop"]["exec"]["command"]))[1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + grace
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "secret" in volumes["key-secret"]
    assert config["CHAT_MASTER_KEY_FILE"].startswith("/run/chat-keys/")
    for var in config:
        if var.startswith(("CHAT_", "MONGODB_")):
            assert var in KNOWN_VARS, var


def test_cronjob_runs_retention_without_overlap() -> None:
    cron = by_kind("CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["chat-retention", "run"]


def test_network_policy_denies_by_default_and_limits_egress() -> None:
    policies = [doc for _, doc in k8s_documents() if doc["kind"] == "NetworkPolicy"]
    default = next(p for p in policies if p["spec"]["podSelector"] == {})
    assert default["spec"]["policyTypes"] == ["Ingress", "Egress"] and "egress" not in default["spec"]
    server = next(p for p in policies if p["spec"]["podSelector"] != {})
    ports = {port["port"] for rule in server["spec"]["egress"] for port in rule.get("ports", [])}
    assert ports == {53, 27017, 6379, 587, 443}


def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason() -> None:
    # checkov lives in its own venv (locks/tools.txt): its pins never constrain the project's.
    checkov = REPO / ".venv-tools" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("checkov is installed by scripts/install into .venv-tools")
    result = subprocess.run(
        [checkov, "-d", str(DEPLOY / "k8s"), "--framework", "kubernetes", "--skip-download", "--quiet", "--compact"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    for path in (DEPLOY / "k8s").rglob("*.yaml"):
        for skip in re.findall(r"checkov\.io/skip\d+: (.*)", path.read_text()):
            check, _, reason = skip.partition("=")
            assert re.fullmatch(r"CKV_K8S_\d+", check) and len(reason) > 20, skip


# --- systemd ------------------------------------------------------------------------------------


def test_systemd_units_verify_and_are_hardened(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze (Debian package systemd) is needed")
    units = sorted((DEPLOY / "systemd").glob("chat-*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
    for unit in units:
        # The binaries live in /opt/chat-service on a VM; point them at one that exists here.
        text = re.sub(r"/opt/chat-service/bin/\S+", "/bin/true", unit.read_text())
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in units]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr
    service = (DEPLOY / "systemd" / "chat-service.service").read_text()
    for option in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet="):
        assert option in service
    assert "OnCalendar=" in (DEPLOY / "systemd" / "chat-retention.timer").read_text()
    timeout = int(re.search(r"TimeoutStopSec=(\d+)", service)[1])
    env = (DEPLOY / "systemd" / "chat-service.env.example").read_text()
    grace = int(re.search(r"CHAT_DRAIN_GRACE_SECONDS=(\d+)", env)[1])
    assert timeout > grace
    for var in re.findall(r"^([A-Z_]+)=", env, re.M):
        assert var in KNOWN_VARS, var


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    from chat_service.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    dashboard = json.loads((DEPLOY / "grafana" / "chat-service-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used.update(re.findall(r"\b(chat_[a-z_]+?)(?:_bucket|_total)?\b(?=[\[{)\s])", target["expr"]))
    assert used and used <= exported, used - exported
    assert exported <= used, f"metrics missing from the dashboard: {exported - used}"
