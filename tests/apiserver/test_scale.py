"""The ``scale`` subresource: the Scale view, replicas-only writes, errors as upstream."""

from __future__ import annotations

import pytest

from svcnet.api.errors import BadRequest, Conflict, Invalid, NotFound
from svcnet.apiserver.scale import _selector_string, apply_scale, scale_of
from svcnet.client.inprocess import local_client


@pytest.mark.parametrize(
    "selector, text",
    [
        (None, ""),
        ({}, ""),
        ({"matchLabels": {"app": "web"}}, "app=web"),
        ({"matchLabels": {"tier": "b", "app": "web"}}, "app=web,tier=b"),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, "env in (dev,prod)"),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["x"]}]}, "env notin (x)"),
        ({"matchLabels": {"b": "1"}, "matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "c", "operator": "DoesNotExist"}]}, "a,b=1,!c"),
    ],
)
def test_selector_string(selector, text):
    assert _selector_string(selector) == text


DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"x": "y"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
    "status": {"replicas": 2},
}


def test_scale_of_carries_identity_replicas_and_selector():
    assert scale_of(DEPLOY) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"},
    }


def test_apply_scale_changes_only_replicas():
    new = apply_scale(DEPLOY, {"spec": {"replicas": 6}, "metadata": {"resourceVersion": "7"}})
    assert new["spec"] == {"replicas": 6, "selector": {"matchLabels": {"app": "web"}}}
    assert new["metadata"] == DEPLOY["metadata"] and DEPLOY["spec"]["replicas"] == 3  # input untouched
    assert "resourceVersion" not in apply_scale(DEPLOY, {"spec": {"replicas": 1}})["metadata"]


@pytest.mark.parametrize(
    "scale, error, text",
    [
        ({"spec": {"replicas": -1}}, Invalid, 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'),
        ({"kind": "Deployment", "spec": {"replicas": 1}}, BadRequest, "the kind of the object (Deployment) does not match the resource (Scale)"),
        ({"apiVersion": "apps/v1", "spec": {"replicas": 1}}, BadRequest, "the API version in the data (apps/v1) does not match the expected API version (autoscaling/v1)"),
        ({"metadata": {"name": "other"}, "spec": {"replicas": 1}}, BadRequest, "the name of the object (other) does not match the name on the URL (web)"),
        ({"spec": {"replicas": "3"}}, BadRequest, "spec.replicas: expected an integer, got '3'"),
        ([], BadRequest, "the body of the request was in an unknown format"),
    ],
)
def test_apply_scale_errors(scale, error, text):
    with pytest.raises(error) as e:
        apply_scale(DEPLOY, scale)
    assert str(e.value) == text


@pytest.fixture
async def client():
    c = local_client()
    yield c
    await c.close()


@pytest.mark.parametrize("resource", ["deployments", "replicasets"])
async def test_scale_through_the_registry(client, resource):
    kind = {"deployments": "Deployment", "replicasets": "ReplicaSet"}[resource]
    obj = await client.create(resource, {
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "svcnet/echo"}]}}},
    })
    scale = await client.get(resource, "web", subresource="scale")
    assert scale["spec"] == {"replicas": 2} and scale["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]

    # PATCH applies to the Scale (what kubectl scale sends)
    out = await client.patch(resource, "web", {"spec": {"replicas": 4}}, subresource="scale")
    assert out["kind"] == "Scale" and out["spec"] == {"replicas": 4}
    stored = await client.get(resource, "web")
    assert stored["spec"]["replicas"] == 4 and stored["metadata"]["generation"] == 2
    assert stored["spec"]["template"] == obj["spec"]["template"]

    # PUT with a stale resourceVersion is a Conflict; dry run writes nothing
    with pytest.raises(Conflict):
        await client.update(resource, dict(scale, spec={"replicas": 9}), subresource="scale")
    out = await client.update(resource, dict(scale, metadata={"name": "web"}, spec={"replicas": 9}), subresource="scale", dry_run=True)
    assert out["spec"] == {"replicas": 9} and (await client.get(resource, "web"))["spec"]["replicas"] == 4
    with pytest.raises(Invalid):
        await client.patch(resource, "web", {"spec": {"replicas": -3}}, subresource="scale")
    assert (await client.get(resource, "web"))["spec"]["replicas"] == 4


async def test_services_have_no_scale_subresource(client):
    with pytest.raises(NotFound):
        await client.patch("services", "kubernetes", {"spec": {"replicas": 1}}, subresource="scale")
