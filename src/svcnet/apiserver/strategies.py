"""Strategies of the resources with no special pipeline (everything but Services), and the
table of which strategy serves which resource. See ``strategy.py`` for the hooks."""

from __future__ import annotations

from svcnet.api import validation as api_validation
from svcnet.api.errors import FieldError
from svcnet.api.resources import RESOURCES
from svcnet.apiserver.services import ServiceConfig, ServiceStrategy
from svcnet.apiserver.strategy import Strategy

__all__ = ["default_strategies"]


class _GenericStrategy(Strategy):
    def validate(self, obj: dict) -> list[FieldError]:
        return api_validation.validate(obj)

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return api_validation.validate(obj, old)

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        return api_validation.validate_status_update(obj, old)


class _NamespaceStrategy(_GenericStrategy):
    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Active"}
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


class _PodStrategy(_GenericStrategy):
    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


class _WorkloadStrategy(_GenericStrategy):
    tracks_generation = True


class _NoStatusStrategy(_GenericStrategy):
    has_status_subresource = False


class _EndpointSliceStrategy(_NoStatusStrategy):
    tracks_generation = True


class _EndpointsStrategy(_NoStatusStrategy):
    allow_create_on_update = True


def default_strategies(service_cidrs: tuple[str, ...], node_port_range: tuple[int, int]) -> dict[str, Strategy]:
    svc_config = ServiceConfig(service_cidrs=service_cidrs, node_port_range=node_port_range)
    s: dict[str, Strategy] = {}
    for rt in RESOURCES:
        if rt.name == "services":
            s[rt.name] = ServiceStrategy(rt, svc_config)
        elif rt.name == "namespaces":
            s[rt.name] = _NamespaceStrategy(rt)
        elif rt.name == "pods":
            s[rt.name] = _PodStrategy(rt)
        elif rt.name in ("deployments", "replicasets"):
            s[rt.name] = _WorkloadStrategy(rt)
        elif rt.name == "endpointslices":
            s[rt.name] = _EndpointSliceStrategy(rt)
        elif rt.name == "endpoints":
            s[rt.name] = _EndpointsStrategy(rt)
        elif rt.name == "events":
            s[rt.name] = _NoStatusStrategy(rt)
        else:
            s[rt.name] = _GenericStrategy(rt)
    return s
