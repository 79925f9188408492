"""The deploy files' own rules, which no schema knows: run by .ci/deploy-checks with its virtualenv's Python.

    python .ci/deploy_invariants.py docker-context REPO
    python .ci/deploy_invariants.py compose RENDERED.json [--profile observability|test]
    python .ci/deploy_invariants.py k8s RENDERED.yaml

Each prints nothing and exits 0 when every rule holds, or prints one line per broken rule and exits 1.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml
from docker.utils.build import exclude_paths

# Files that must never reach the Docker build context, planted in a copy of the repository to prove that
# .dockerignore leaves them out wherever they are.
PLANTED_SECRETS = [
    ".env",
    ".env.production",
    "web/.env",
    "web/static/.env.local",
    "web/static/secrets/admin_token",
    "crates/keel-config/instance/config.toml",
    "instance/config.toml",
    "instance/keel-development.sqlite3",
    "target/release/keel",
    "crates/keel-config/target/debug/leftover",
    "secrets/secret_key",
    "deploy/secrets/admin_token",
    "keel-production.sqlite3",
    "server.key",
    "tls.pem",
    ".git/HEAD",
]

DEFAULT_SERVICES = {"secrets", "db", "redis", "migrate", "app-1", "app-2", "proxy"}
OBSERVABILITY_SERVICES = DEFAULT_SERVICES | {"jaeger"}
TEST_SERVICES = {"test-db", "test-redis"}
# After the grace period keel still closes its database pool (up to 5 s) and flushes queued spans (up to
# 5 s): POOL_CLOSE_TIMEOUT and TELEMETRY_FLUSH_TIMEOUT in crates/keel-server/src/serve.rs.
KEEL_EXIT_STEPS_SECS = 10
EXPECTED_SERVICES = {
    None: DEFAULT_SERVICES,
    "observability": OBSERVABILITY_SERVICES,
    "test": DEFAULT_SERVICES | TEST_SERVICES,
}


def dockerignore_patterns(repo):
    with open(os.path.join(repo, ".dockerignore"), encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip() and not line.startswith("#")]


def context_of(root, patterns):
    """The files Docker would send as the build context of `root`, as relative paths."""
    return {
        path
        for path in exclude_paths(root, patterns)
        if os.path.isfile(os.path.join(root, path))
    }


def copy_sources(dockerfile):
    """The context paths that COPY/ADD instructions without --from read."""
    with open(dockerfile, encoding="utf-8") as file:
        text = re.sub(r"\\\n", " ", file.read())
    sources = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from") for word in words[1:]):
            continue
        sources.extend(arguments[:-1])
    return sources


def check_docker_context(repo):
    problems = []
    patterns = dockerignore_patterns(repo)
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    with tempfile.TemporaryDirectory() as scratch:
        # The repository's tracked files plus the planted ones: what a developer's checkout may hold.
        for path in [path for path in tracked if path] + PLANTED_SECRETS:
            target = os.path.join(scratch, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            source = os.path.join(repo, path)
            if os.path.isfile(source):
                shutil.copy2(source, target)
            else:
                with open(target, "w", encoding="utf-8") as file:
                    file.write("planted by .ci/deploy_invariants.py\n")
        context = context_of(scratch, patterns)
        for planted in PLANTED_SECRETS:
            if planted in context:
                problems.append(f".dockerignore lets {planted} into the build context: exclude it")
        for source in copy_sources(os.path.join(repo, "deploy/Dockerfile")):
            if source == ".":
                continue
            source = source.rstrip("/")
            if not any(path == source or path.startswith(source + "/") for path in context):
                problems.append(
                    f"deploy/Dockerfile copies {source}, which is not in the build context: "
                    "allow it in .dockerignore"
                )
        # The build stage runs `cargo build --locked` in exactly this context: every workspace member
        # and the lock file must be in it.
        with tempfile.TemporaryDirectory() as context_dir:
            for path in context:
                target = os.path.join(context_dir, path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(os.path.join(scratch, path), target)
            metadata = subprocess.run(
                ["cargo", "metadata", "--locked", "--format-version", "1"],
                cwd=context_dir,
                capture_output=True,
                text=True,
                env={**os.environ, "CARGO_TARGET_DIR": os.path.join(context_dir, "target")},
            )
            if metadata.returncode != 0:
                message = " ".join(line.strip() for line in metadata.stderr.strip().splitlines())
                problems.append(
                    "cargo cannot load the workspace from the Docker build context "
                    f"({message}): allow the missing files in .dockerignore"
                )
    return problems


def check_compose(rendered, profile):
    with open(rendered, encoding="utf-8") as file:
        config = json.load(file)
    services = config["services"]
    expected = EXPECTED_SERVICES[profile]
    problems = []
    if set(services) != expected:
        problems.append(f"services are {sorted(services)}, expected {sorted(expected)}")
    for name, service in services.items():
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                problems.append(
                    f"service {name} publishes port {port.get('target')} on "
                    f"{port.get('host_ip') or 'every interface'}: publish on 127.0.0.1 by default"
                )
        if name not in ("proxy", "jaeger", *TEST_SERVICES) and service.get("ports"):
            problems.append(
                f"service {name} publishes a port: only the proxy (and Jaeger's UI, the test services) may"
            )
        for key, value in (service.get("environment") or {}).items():
            if value and re.search(r"://[^/@]*:[^/@]*@", value):
                problems.append(f"service {name} has a password in {key}: read it from a secret file")
    for name in ("app-1", "app-2"):
        app = services.get(name, {})
        environment = app.get("environment") or {}
        drain = int(environment.get("APP_SERVER__DRAIN_DELAY_SECS") or 5)
        graceful = int(environment.get("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS") or 30)
        stop = str(app.get("stop_grace_period", "10s"))
        stop_secs = int(stop[:-1]) if stop.endswith("s") and stop[:-1].isdigit() else None
        if stop_secs is None or stop_secs <= drain + graceful + KEEL_EXIT_STEPS_SECS:
            problems.append(
                f"{name}'s stop_grace_period {stop} must exceed drain {drain} + graceful timeout {graceful} "
                f"+ {KEEL_EXIT_STEPS_SECS} s, or docker kills keel while it finishes requests"
            )
        metrics_port = environment.get("APP_SERVER__METRICS_PORT")
        if not metrics_port:
            problems.append(f"{name} sets no APP_SERVER__METRICS_PORT: its metrics cannot be scraped")
        elif environment.get("APP_SERVER__METRICS_HOST") != "0.0.0.0":
            problems.append(
                f"{name}'s metrics listener must listen on 0.0.0.0 (APP_SERVER__METRICS_HOST) to be scraped "
                "from compose's network"
            )
        elif metrics_port not in [str(port) for port in app.get("expose", [])]:
            problems.append(f"{name} must `expose` its metrics port {metrics_port}")
        if app.get("image") != services.get("migrate", {}).get("image"):
            problems.append(f"{name} and migrate must run the same image")
        if app.get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
            problems.append(f"{name} must wait for migrate to complete successfully")
    return problems


def check_k8s(rendered):
    with open(rendered, encoding="utf-8") as file:
        documents = [document for document in yaml.safe_load_all(file) if document]
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    problems = []
    config = by_kind.get("ConfigMap", [{}])[0].get("data", {})
    drain = int(config.get("APP_SERVER__DRAIN_DELAY_SECS", 5))
    graceful = int(config.get("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", 30))
    for deployment in by_kind.get("Deployment", []):
        spec = deployment["spec"]["template"]["spec"]
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace <= drain + graceful + KEEL_EXIT_STEPS_SECS:
            problems.append(
                f"terminationGracePeriodSeconds {grace} must exceed drain {drain} + graceful timeout "
                f"{graceful} + {KEEL_EXIT_STEPS_SECS} s for closing the pool and flushing traces, or the "
                "kubelet kills keel while it finishes requests"
            )
        container = spec["containers"][0]
        ports = {port.get("name"): port.get("containerPort") for port in container.get("ports", [])}
        metrics_port = config.get("APP_SERVER__METRICS_PORT")
        annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations", {})
        if metrics_port is None or str(ports.get("metrics")) != str(metrics_port):
            problems.append(
                f"containerPort `metrics` is {ports.get('metrics')}, APP_SERVER__METRICS_PORT is {metrics_port}: "
                "they must be set and equal"
            )
        elif config.get("APP_SERVER__METRICS_HOST") != "0.0.0.0":
            problems.append("APP_SERVER__METRICS_HOST must be 0.0.0.0, or nothing outside the pod can scrape")
        elif str(annotations.get("prometheus.io/port")) != str(metrics_port):
            problems.append(
                f"the prometheus.io/port annotation is {annotations.get('prometheus.io/port')}, the metrics "
                f"port {metrics_port}: they must be equal"
            )
        probes = {
            probe: spec["containers"][0].get(probe, {}).get("httpGet", {}).get("path")
            for probe in ("livenessProbe", "readinessProbe")
        }
        if probes != {"livenessProbe": "/api/v1/health", "readinessProbe": "/api/v1/ready"}:
            problems.append(f"probes are {probes}: liveness /api/v1/health, readiness /api/v1/ready")
    for autoscaler in by_kind.get("HorizontalPodAutoscaler", []):
        if autoscaler["spec"].get("minReplicas", 1) < 2:
            problems.append("the HorizontalPodAutoscaler must keep at least 2 replicas")
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "ConfigMap"):
        if kind not in by_kind:
            problems.append(f"no {kind} rendered")
    if "Secret" in by_kind:
        problems.append("a Secret is rendered: applying it would overwrite the real one")
    return problems


def main(arguments):
    command = arguments[0] if arguments else ""
    if command == "docker-context" and len(arguments) == 2:
        problems = check_docker_context(arguments[1])
    elif command == "compose" and len(arguments) in (2, 4):
        profile = arguments[3] if len(arguments) == 4 and arguments[2] == "--profile" else None
        problems = check_compose(arguments[1], profile)
    elif command == "k8s" and len(arguments) == 2:
        problems = check_k8s(arguments[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
