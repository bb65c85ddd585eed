"""Deployment / ReplicaSet validation (pkg/apis/apps/validation/validation.go), exact texts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults
from svcnet.api.validation import validate

NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
MISMATCH = "`selector` does not match template `labels`"


def workload(kind: str = "Deployment", *, spec: dict | None = None, labels: dict | None = None, selector: Any = "default", defaults: bool = True) -> dict:
    s: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {"app": "web"} if labels is None else labels},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
        }
    }
    if selector == "default":
        s["selector"] = {"matchLabels": {"app": "web"}}
    elif selector is not None:
        s["selector"] = selector
    s.update(spec or {})
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "namespace": "default"}, "spec": s}
    return apply_defaults(obj) if defaults else obj


def errs(obj: dict, old: dict | None = None) -> list[str]:
    return [str(e) for e in validate(obj, old)]


EMPTY_SELECTOR = "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"

CASES = [
    pytest.param(workload(), [], id="deployment valid"),
    pytest.param(workload("ReplicaSet"), [], id="replicaset valid"),
    pytest.param(workload(spec={"replicas": -1}), ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"], id="replicas negative"),
    pytest.param(workload(spec={"replicas": 0}), [], id="replicas 0"),
    pytest.param(
        workload(labels={"app": "other"}),
        [f'spec.template.metadata.labels: Invalid value: map[string]string{{"app":"other"}}: {MISMATCH}'], id="selector does not match template labels",
    ),
    pytest.param(
        workload("ReplicaSet", labels={}),
        [f"spec.template.metadata.labels: Invalid value: map[string]string{{}}: {MISMATCH}"], id="replicaset template without labels",
    ),
    pytest.param(
        workload(selector=None),
        ["spec.selector: Required value", f'spec.template.metadata.labels: Invalid value: map[string]string{{"app":"web"}}: {MISMATCH}'],
        id="selector required (a nil selector selects nothing)",
    ),
    pytest.param(workload(selector={}), [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for deployment"], id="empty selector"),
    pytest.param(
        workload("ReplicaSet", selector={}), [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for deployment"], id="empty selector replicaset says deployment"
    ),
    pytest.param(workload(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}), [], id="matchExpressions match"),
    pytest.param(
        workload(selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
        [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:'
            '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", Values:[]string(nil)}}}: '
            "invalid label selector",
        ],
        id="In without values (template then skipped)",
    ),
    pytest.param(
        workload(selector={"matchLabels": {"-app": "web"}}, labels={"-app": "web"}),
        [
            f'spec.selector.matchLabels: Invalid value: "-app": {NAME_PART}',
            'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"-app":"web"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: invalid label selector",
        ],
        id="bad selector key stops template validation",
    ),
    pytest.param(
        workload(labels={"app": "web", "-x": "y"}),
        [f'spec.template.labels: Invalid value: "-x": {NAME_PART}'],
        id="template label errors at spec.template.labels (upstream path quirk)",
    ),
    pytest.param(
        workload(spec={"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "x"}], "restartPolicy": "Never"}}}),
        ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'], id="restartPolicy must be Always",
    ),
    pytest.param(
        workload(spec={"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}),
        ["spec.template.spec.containers: Required value"], id="template validated as a pod template",
    ),
    pytest.param(
        workload(spec={"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}),
        ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"],
        id="maxUnavailable and maxSurge both 0",
    ),
    pytest.param(
        workload(spec={"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "110%", "maxSurge": 1}}}),
        ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"110%"}: must not be greater than 100%'],
        id="maxUnavailable over 100%",
    ),
    pytest.param(
        workload(spec={"strategy": {"type": "Recreate", "rollingUpdate": {}}}),
        ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"], id="Recreate with rollingUpdate",
    ),
    pytest.param(workload(spec={"progressDeadlineSeconds": 10, "minReadySeconds": 10}), ["spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"], id="progressDeadlineSeconds"),
]


@pytest.mark.parametrize("obj,expected", CASES)
def test_validate_workload(obj: dict, expected: list[str]) -> None:
    assert errs(obj) == expected


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet"])
def test_validate_workload_update_selector_immutable(kind: str) -> None:
    old = workload(kind)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    assert errs(new, old) == []
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "fe"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "fe"
    assert errs(new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"fe"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]
