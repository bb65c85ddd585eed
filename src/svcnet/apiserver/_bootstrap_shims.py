"""TEMPORARY: lets the registry run while the validation, selector and service-allocation
modules are being written in parallel. Removed once they land (do not build on this)."""

from __future__ import annotations

import ipaddress


def defaults_and_validation():
    class _D:
        @staticmethod
        def apply_defaults(obj):
            if obj.get("kind") == "Service":
                spec = obj.setdefault("spec", {})
                spec.setdefault("type", "ClusterIP")
                spec.setdefault("sessionAffinity", "None")
                if spec["type"] != "ExternalName":
                    spec.setdefault("internalTrafficPolicy", "Cluster")
                for p in spec.get("ports") or []:
                    p.setdefault("protocol", "TCP")
                    p.setdefault("targetPort", p.get("port"))
            return obj

    try:
        from svcnet.api import defaults
    except ImportError:
        defaults = _D
    try:
        from svcnet.api import validation

        if not hasattr(validation, "validate") or not hasattr(validation, "validate_status_update"):
            raise ImportError("validation in progress")
        return defaults, validation
    except ImportError:

        class _V:
            @staticmethod
            def validate(obj, old=None):
                return []

            @staticmethod
            def validate_status_update(obj, old):
                return []

        return defaults, _V


def selectors():
    try:
        from svcnet.api.labels import object_fields, parse_field_selector, parse_label_selector

        return object_fields, parse_field_selector, parse_label_selector
    except ImportError:

        class _Sel:
            def __init__(self, text):
                self.reqs = []
                for part in filter(None, (p.strip() for p in text.split(","))):
                    if "!=" in part:
                        k, v = part.split("!=", 1)
                        self.reqs.append((k.strip(), v.strip(), False))
                    elif "=" in part:
                        k, v = part.replace("==", "=").split("=", 1)
                        self.reqs.append((k.strip(), v.strip(), True))
                    else:
                        raise ValueError(f"unable to parse requirement: {part}")

            def matches(self, d):
                d = d or {}
                return all((d.get(k) == v) == eq for k, v, eq in self.reqs)

        def object_fields(obj):
            md = obj.get("metadata") or {}
            f = {"metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "")}
            if obj.get("kind") == "Pod" or "containers" in (obj.get("spec") or {}):
                f["spec.nodeName"] = (obj.get("spec") or {}).get("nodeName", "")
                f["status.phase"] = (obj.get("status") or {}).get("phase", "")
            return f

        return object_fields, _Sel, _Sel


def service_strategy(config):
    try:
        from svcnet.apiserver.services import ServiceConfig, ServiceStrategy
    except ImportError:
        return None
    sc = ServiceConfig(service_cidrs=config.service_cidrs, node_port_range=config.node_port_range)
    return lambda rt: ServiceStrategy(rt, sc)


def kubernetes_service_ip():
    try:
        from svcnet.apiserver.services import kubernetes_service_ip as f

        return f
    except ImportError:
        return lambda cidr: str(ipaddress.ip_network(cidr)[1])
