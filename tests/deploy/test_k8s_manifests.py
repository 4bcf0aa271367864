"""Every Kustomize overlay renders, validates against the Kubernetes schemas, and is hardened."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version

from tests.deploy.manifests import (
    CALLERS,
    COMPONENTS,
    K8S,
    OVERLAYS,
    PROCESSES,
    Doc,
    base,
    containers,
    effective_env,
    named,
    of_kind,
    overlay,
    pod_template,
    routed_processes,
    secret_env,
    selects,
    settings_for,
    walk,
    workloads,
)

# The oldest Kubernetes minor these manifests claim to support, and the newest with schemas.
KUBERNETES_VERSIONS = ["1.30", latest_version()]
# Custom resources: not in the Kubernetes schemas, checked by test_kafka_topics_are_well_formed.
CUSTOM_GROUPS = {"kafka.strimzi.io"}
# One Deployment per long-running process of the code (GatewaySettings.health_checks() and
# the processes it does not check, tests/deploy/manifests.py).
DEPLOYMENTS = set(PROCESSES)


def _kind_names(docs: tuple[Doc, ...]) -> set[tuple[str, str]]:
    return {(doc["kind"], doc["metadata"]["name"]) for doc in docs}


def _strip_hash(name: str) -> str:
    """crm-config-9dhmk569gh -> crm-config (generated ConfigMaps carry a content hash)."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def test_there_is_a_dev_and_a_prod_overlay() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


def test_overlay_keeps_everything_the_base_declares(
    docs: tuple[Doc, ...], base_docs: tuple[Doc, ...]
) -> None:
    mine = {(kind, _strip_hash(name)) for kind, name in _kind_names(docs)}
    declared = {(kind, _strip_hash(name)) for kind, name in _kind_names(base_docs)}
    assert declared <= mine
    assert {d["metadata"]["name"] for d in of_kind(docs, "Deployment")} == DEPLOYMENTS
    assert {d["metadata"]["name"] for d in of_kind(docs, "CronJob")} == {"projections-rebuild"}
    assert {d["metadata"]["name"] for d in of_kind(docs, "Ingress")} == {"crm"}
    namespaces = {doc["metadata"].get("namespace") for doc in docs}
    assert len(namespaces) == 1 and None not in namespaces, "an overlay sets one namespace"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_validate_against_the_kubernetes_schemas(
    docs: tuple[Doc, ...], version: str
) -> None:
    failures = []
    for doc in docs:
        if doc["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            failures.append(f"{where}: {path}: {error.message}")
        except SchemaNotFoundError as error:
            failures.append(f"{where}: {error.message}")
    assert not failures, "\n".join(failures)


def test_kafka_topics_are_well_formed(docs: tuple[Doc, ...]) -> None:
    """Strimzi's KafkaTopic (kafka.strimzi.io/v1): the fields its CRD defines, sane values."""
    topics = of_kind(docs, "KafkaTopic")
    assert topics
    for topic in topics:
        where = f"KafkaTopic/{topic['metadata']['name']}"
        assert topic["apiVersion"] == "kafka.strimzi.io/v1", where
        assert set(topic) <= {"apiVersion", "kind", "metadata", "spec"}, where
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", topic["metadata"]["name"]), where
        assert topic["metadata"]["labels"].get("strimzi.io/cluster"), f"{where}: no cluster label"
        spec = topic["spec"]
        assert set(spec) <= {"topicName", "partitions", "replicas", "config"}, where
        assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", spec["topicName"]), where
        assert isinstance(spec["partitions"], int) and spec["partitions"] >= 1, where
        assert isinstance(spec["replicas"], int) and 1 <= spec["replicas"] <= 32767, where
        config = spec["config"]
        assert config["cleanup.policy"] in {"delete", "compact", "compact,delete"}, where
        assert isinstance(config["retention.ms"], int) and config["retention.ms"] > 0, where
        assert 1 <= config["min.insync.replicas"] <= spec["replicas"], where


def test_pods_are_hardened(docs: tuple[Doc, ...]) -> None:
    service_accounts = {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")}
    for workload in workloads(docs):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_template(workload)["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001 and pod["runAsGroup"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["enableServiceLinks"] is False, where
        assert spec["serviceAccountName"] in service_accounts, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(workload):
            here = f"{where} container {container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, here
            assert context["allowPrivilegeEscalation"] is False, here
            assert context.get("privileged", False) is False, here
            assert context["capabilities"] == {"drop": ["ALL"]}, here
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) >= {"cpu", "memory"}, f"{here}: {bound}"
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{here}: /tmp is not an emptyDir"
            writable = [
                path
                for path, name in mounts.items()
                if path != "/tmp" and not _read_only(volumes[name], container, path)
            ]
            assert not writable, f"{here}: writable mounts besides /tmp: {writable}"


def _read_only(volume: Doc, container: Doc, path: str) -> bool:
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == path)
    return bool(mount.get("readOnly")) or "secret" in volume or "configMap" in volume


def test_no_secret_is_written_into_the_manifests(docs: tuple[Doc, ...]) -> None:
    assert not of_kind(docs, "Secret"), "Secrets are created in the cluster, never rendered"
    credentials_in_url = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
    for doc in docs:
        for value in walk(doc):
            if isinstance(value, str):
                assert not credentials_in_url.search(value), f"credentials in {value!r}"
    for workload in workloads(docs):
        for container in containers(workload):
            from_secrets = secret_env(container)
            for name in set(effective_env(docs, container)) - set(from_secrets):
                assert not name.endswith("MONGODB_URL"), f"{name} must come from a Secret"
            assert "CRM_MONGODB_URL" in from_secrets
    for config_map in of_kind(docs, "ConfigMap"):
        for key in config_map.get("data", {}):
            assert not re.search(r"PASSWORD|SECRET|PRIVATE|TOKEN", key), key


def test_every_component_runs_the_one_pinned_image(docs: tuple[Doc, ...]) -> None:
    images = {c["image"] for w in workloads(docs) for c in containers(w)}
    assert len(images) == 1, f"one image for every component, found {images}"
    (image,) = images
    name, _, tag = image.rpartition(":")
    assert name and tag and "/" not in tag, f"{image} has no tag"
    assert tag != "latest"


def test_references_between_objects_resolve(docs: tuple[Doc, ...]) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    pods = {name: pod_template(d) for name, d in deployments.items()}
    pods |= {d["metadata"]["name"]: pod_template(d) for d in of_kind(docs, "CronJob")}

    def selected(selector: dict[str, Any]) -> list[str]:
        return [name for name, pod in pods.items() if selects(selector, pod["metadata"]["labels"])]

    for name, deployment in deployments.items():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            pods[name]["metadata"]["labels"].items()
        )
    for service in of_kind(docs, "Service"):
        (target,) = selected(service["spec"]["selector"])
        ports = {p["name"] for c in pods[target]["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service/{service['metadata']['name']}"
    autoscaled = set()
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert "replicas" not in deployments[target["name"]]["spec"], (
            f"Deployment/{target['name']} sets replicas although an autoscaler owns them"
        )
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        autoscaled.add(target["name"])
    assert autoscaled == routed_processes(), "the APIs autoscale; the workers have fixed replicas"
    budgets = {tuple(selected(p["spec"]["selector"])) for p in of_kind(docs, "PodDisruptionBudget")}
    assert budgets == {(name,) for name in deployments}, "one PodDisruptionBudget per Deployment"
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                port_names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in port_names
    for policy in of_kind(docs, "NetworkPolicy"):
        assert selected(policy["spec"]["podSelector"]), f"{policy['metadata']['name']} is idle"


def test_every_component_is_used_by_an_overlay() -> None:
    used = set()
    for name in OVERLAYS:
        kustomization = yaml.safe_load((K8S / "overlays" / name / "kustomization.yaml").read_text())
        used |= {path.rstrip("/").split("/")[-1] for path in kustomization.get("components", [])}
    assert set(COMPONENTS) <= used, f"components no overlay uses: {set(COMPONENTS) - used}"


def test_every_pod_verifies_tokens_with_the_same_keys(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    """An issuer (JWKS), or one signing key from a Secret: never a key of each pod's own.

    Without either, crm_runtime.auth.LocalKeys would create a key per pod in /tmp, and each
    pod would refuse the tokens the others accept.
    """
    for workload in workloads(docs):
        spec = pod_template(workload)["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            settings = settings_from(
                settings_for(container["args"][0]), effective_env(docs, container)
            )
            if settings.auth_jwks_url or settings.auth_issuer.startswith("https://"):
                continue
            key_file = settings.auth_signing_key_file
            assert key_file is not None, f"{workload['metadata']['name']}: no issuer, no key"
            mount = next(
                m
                for m in container["volumeMounts"]
                if str(key_file).startswith(m["mountPath"].rstrip("/") + "/")
            )
            assert "secret" in volumes[mount["name"]], "the signing key comes from a Secret"


def test_callers_send_tokens_the_apis_accept(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    """The sagas mint their service token with the shared signing key; where an issuer signs
    the tokens they cannot (a key of their own would be trusted by no API), so their token
    comes from a Secret."""
    for name in CALLERS:
        (container,) = containers(named(docs, "Deployment", name))
        settings_class = settings_for(container["args"][0])
        settings = settings_from(settings_class, effective_env(docs, container))
        token = settings_class.model_fields["service_token"].alias
        if settings.auth_jwks_url or settings.auth_issuer.startswith("https://"):
            assert token in secret_env(container), f"{name}: an issuer, and no {token} Secret"
        else:
            assert settings.auth_signing_key_file is not None, f"{name}: no key to mint with"
            assert token not in effective_env(docs, container), name


@pytest.mark.usefixtures("renderer")
def test_overlays_size_the_system_for_their_use() -> None:
    dev, prod = overlay("dev"), overlay("prod")
    autoscaled = {h["metadata"]["name"] for h in of_kind(base(), "HorizontalPodAutoscaler")}
    for name in autoscaled:
        assert named(dev, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"] == 1
        assert named(prod, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"] >= 2
    for name in DEPLOYMENTS - autoscaled:
        # a leader and a standby (lease in MongoDB), or two members of a consumer group
        assert named(dev, "Deployment", name)["spec"]["replicas"] == 1, name
        assert named(prod, "Deployment", name)["spec"]["replicas"] == 2, name

    def request(docs: tuple[Doc, ...], name: str) -> str:
        return str(containers(named(docs, "Deployment", name))[0]["resources"]["requests"]["cpu"])

    for name in DEPLOYMENTS:
        assert request(dev, name) != request(prod, name), f"{name} is sized alike in both"
    assert {c["image"] for w in workloads(dev) for c in containers(w)} != {
        c["image"] for w in workloads(prod) for c in containers(w)
    }
    assert of_kind(prod, "NetworkPolicy") and not of_kind(dev, "NetworkPolicy")
    assert named(prod, "Ingress", "crm")["spec"]["tls"]


@pytest.mark.usefixtures("renderer")
def test_the_base_alone_renders_but_names_no_issuer() -> None:
    """The base is not deployable by itself: an overlay must say whose tokens to trust."""
    docs = base()
    assert "CRM_AUTH_ISSUER" not in named(docs, "ConfigMap", _config_map_name(docs))["data"]


def _config_map_name(docs: tuple[Doc, ...]) -> str:
    (name,) = [
        d["metadata"]["name"]
        for d in of_kind(docs, "ConfigMap")
        if _strip_hash(d["metadata"]["name"]) == "crm-config"
    ]
    return name


# --- network policies -----------------------------------------------------------------------

INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
DNS = 53
HTTPS = 443  # the token issuer
# The workers of pipeline, tickets and loyalty and the sagas' runner verify no tokens and serve
# nothing but health and metrics: they reach their store (the relays and the consumers their
# brokers too), DNS and the trace collector (the runner the APIs it calls), nothing else.
WORKER_EGRESS = {
    "pipeline-relay": {DNS, 9092, 27017, 4318},
    "pipeline-scheduler": {DNS, 27017, 4318},
    "tickets-relay": {DNS, 9092, 27017, 4318},
    "tickets-scheduler": {DNS, 27017, 4318},
    "loyalty-relay": {DNS, 9092, 27017, 4318},
    "loyalty-consumer": {DNS, 9092, 27017, 4318},
    "loyalty-scheduler": {DNS, 27017, 4318},
    # and the sagas' commands to the contacts, pipeline, tickets and loyalty APIs
    "sagas-runner": {DNS, 9092, 27017, 4318, 8101, 8103, 8104, 8105},
}


def _policies_for(docs: tuple[Doc, ...], labels: dict[str, str], kind: str) -> list[Doc]:
    return [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def _crm_pods(docs: tuple[Doc, ...]) -> dict[str, dict[str, str]]:
    """The pod labels of each Deployment."""
    return {
        d["metadata"]["name"]: pod_template(d)["metadata"]["labels"]
        for d in of_kind(docs, "Deployment")
    }


def _ingress_allowed(docs: tuple[Doc, ...], labels: dict[str, str]) -> set[tuple[str, int]]:
    """(source, port) pairs the policies let in: the source is a namespace, or for a peer
    that selects pods of this namespace each Deployment whose pods it selects; '*' for a rule
    without a source."""
    pods = _crm_pods(docs)
    allowed = set()
    for policy in _policies_for(docs, labels, "Ingress"):
        for rule in policy["spec"].get("ingress", []):
            sources = []
            for peer in rule.get("from", [{}]):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    selector = peer["podSelector"]
                    sources += [name for name, pod in pods.items() if selects(selector, pod)]
                else:
                    sources.append(
                        peer.get("namespaceSelector", {})
                        .get("matchLabels", {})
                        .get("kubernetes.io/metadata.name", "*")
                    )
            ports = [p["port"] for p in rule.get("ports", [{"port": "*"}])]
            allowed |= {(source, port) for source in sources for port in ports}
    return allowed


def _egress_to_crm_pods(docs: tuple[Doc, ...], labels: dict[str, str]) -> set[tuple[str, Any]]:
    """(Deployment, port) pairs the policies let these pods call: peers whose pod selector
    selects CRM pods; '*' for a rule without ports."""
    pods = _crm_pods(docs)
    allowed = set()
    for policy in _policies_for(docs, labels, "Egress"):
        for rule in policy["spec"].get("egress", []):
            targets = {
                name
                for peer in rule.get("to", [])
                if "podSelector" in peer
                for name, pod in pods.items()
                if selects(peer["podSelector"], pod)
            }
            ports = [p["port"] for p in rule.get("ports", [{"port": "*"}])]
            allowed |= {(target, port) for target in targets for port in ports}
    return allowed


def _container_port(docs: tuple[Doc, ...], deployment: str) -> int:
    (port,) = containers(named(docs, "Deployment", deployment))[0]["ports"]
    return int(port["containerPort"])


def _egress_ports(docs: tuple[Doc, ...], labels: dict[str, str]) -> set[Any]:
    return {
        port.get("port", "*")
        for policy in _policies_for(docs, labels, "Egress")
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [{}])
    }


def test_network_policies_let_in_exactly_the_ingress_and_prometheus(docs: tuple[Doc, ...]) -> None:
    """Every pod is denied by default; what the Ingress routes to is open to the ingress
    controller, what Prometheus scrapes to Prometheus, an API the sagas call to the sagas'
    pods, on their container port, and no more."""
    if not of_kind(docs, "NetworkPolicy"):
        pytest.skip("this overlay applies no network policies")
    routed = {
        path["backend"]["service"]["name"]
        for ingress in of_kind(docs, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        template = pod_template(deployment)
        labels = template["metadata"]["labels"]
        for kind in ("Ingress", "Egress"):
            denied = [
                p for p in _policies_for(docs, labels, kind) if not p["spec"].get(kind.lower())
            ]
            assert denied, f"{name}: no default deny of {kind}"
        (port,) = containers(deployment)[0]["ports"]
        expected = set()
        if name in routed:
            expected.add((INGRESS_CONTROLLER_NAMESPACE, port["containerPort"]))
        annotations = template["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            assert int(annotations["prometheus.io/port"]) == port["containerPort"], name
            expected.add((MONITORING_NAMESPACE, port["containerPort"]))
        expected |= {
            (caller, port["containerPort"])
            for caller, callees in CALLERS.items()
            if name in callees
        }
        assert _ingress_allowed(docs, labels) == expected, name


def test_network_policies_limit_what_each_pod_reaches(docs: tuple[Doc, ...]) -> None:
    """Every pod reaches DNS and MongoDB; the workers in WORKER_EGRESS nothing but what it
    lists (not the issuer); no CRM pod reaches another but the sagas, which reach the APIs
    their settings name (CALLERS), each on its container port only; the projections and the
    consumers reach other services only through Kafka."""
    if not of_kind(docs, "NetworkPolicy"):
        pytest.skip("this overlay applies no network policies")
    assert set(WORKER_EGRESS) <= DEPLOYMENTS
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        ports = _egress_ports(docs, pod_template(workload)["metadata"]["labels"])
        assert "*" not in ports, f"{name}: egress to every port"
        assert {DNS, 27017} <= ports, name
        if name in WORKER_EGRESS:
            assert ports == WORKER_EGRESS[name], name
        elif name in routed_processes():
            assert HTTPS in ports, f"{name} verifies tokens: it must reach the issuer"
        expected = {(callee, _container_port(docs, callee)) for callee in CALLERS.get(name, ())}
        reached = _egress_to_crm_pods(docs, pod_template(workload)["metadata"]["labels"])
        assert reached == expected, f"{name} reaches CRM pods {reached}, not {expected}"
    assert set(CALLERS) <= DEPLOYMENTS and all(set(c) <= DEPLOYMENTS for c in CALLERS.values())
