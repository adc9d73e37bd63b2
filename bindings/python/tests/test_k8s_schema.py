"""deploy/k8s/*.yaml against the Kubernetes API's schema, as the official Python client
(`kubernetes`, generated from the API's OpenAPI spec; scripts/setup.sh installs it) models
it: every field must be one the object's type has (a misspelt field would be dropped by the
API server without a word), every value of its type, and every required field present.
tests/deploy_k8s.rs checks what the fields mean (the server's variables, the selectors, the
ports) and runs what they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402

from conftest import ROOT  # noqa: E402

K8S = ROOT / "deploy" / "k8s"
KINDS = {
    ("v1", "Service"): "V1Service",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("batch/v1", "Job"): "V1Job",
}


def check(value: object, typ: str, path: str, errors: list) -> None:
    """Appends to `errors` what in `value` does not fit the client's type name `typ`."""
    m = re.fullmatch(r"List\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: a list expected, got {value!r}")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"Dict\[str, (.+)\]", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: a map expected, got {value!r}")
            return
        for k, v in value.items():
            check(v, m.group(1), f"{path}.{k}", errors)
        return
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if typ in scalars:
        ok = isinstance(value, scalars[typ]) and not (typ == "int" and isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: a {typ} expected, got {value!r}")
        return
    if typ == "object":  # IntOrString and free-form values
        if not isinstance(value, (str, int, dict, list)):
            errors.append(f"{path}: an int or a string expected, got {value!r}")
        return
    model = getattr(k8s, typ)
    if not isinstance(value, dict):
        errors.append(f"{path}: a {typ} object expected, got {value!r}")
        return
    fields = {json: attr for attr, json in model.attribute_map.items()}
    for k, v in value.items():
        if k not in fields:
            errors.append(f"{path}.{k}: not a field of {typ}")
            continue
        check(v, model.openapi_types[fields[k]], f"{path}.{k}", errors)


def manifests() -> list:
    return sorted(K8S.glob("*.yaml"))


def test_the_manifests_are_the_four_objects_of_the_deployment():
    kinds = []
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            kinds.append((doc["apiVersion"], doc["kind"]))
    assert sorted(kinds) == sorted(KINDS), kinds


@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_every_field_of_the_manifest_is_in_the_kubernetes_api_schema(path: Path):
    for doc in yaml.safe_load_all(path.read_text()):
        typ = KINDS[(doc["apiVersion"], doc["kind"])]
        errors: list = []
        check(doc, typ, doc["kind"], errors)
        assert errors == []
        # The client's own deserializer builds the objects, refusing missing required fields.
        api = k8s.ApiClient()
        obj = api._ApiClient__deserialize(doc, typ)
        assert type(obj).__name__ == typ
        assert api.sanitize_for_serialization(obj) == doc  # nothing dropped or renamed


def test_the_schema_check_finds_a_misspelt_field_and_a_wrong_type():
    errors: list = []
    check({"apiVersion": "apps/v1", "kind": "StatefulSet",
           "spec": {"replica": 3, "serviceName": 7,
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {"spec": {"containers": [{"name": "x", "imagePullPolicy": 1}]}}}},
          "V1StatefulSet", "StatefulSet", errors)
    assert errors == ["StatefulSet.spec.replica: not a field of V1StatefulSetSpec",
                      "StatefulSet.spec.serviceName: a str expected, got 7",
                      "StatefulSet.spec.template.spec.containers[0].imagePullPolicy: a str "
                      "expected, got 1"]
    with pytest.raises(ValueError, match="containers"):
        k8s.ApiClient()._ApiClient__deserialize({"restartPolicy": "Never"}, "V1PodSpec")
