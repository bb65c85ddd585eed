"""The model every data plane shares: service ports, endpoints, change tracking, and endpoint
categorisation (upstream ``pkg/proxy``). Pure: nothing here does I/O."""

from svcnet.proxy.model.endpoints import Categorized, EndpointInfo, categorize_endpoints, endpoints_by_port, slice_service
from svcnet.proxy.model.serviceport import (
    SCHEDULER_ANNOTATION,
    SCHEDULER_FLAGS_ANNOTATION,
    ServicePortInfo,
    ServicePortName,
    service_port_infos,
    should_skip_service,
)
from svcnet.proxy.model.tracker import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServicePortMap,
    UpdateEndpointsResult,
    UpdateServicesResult,
)

__all__ = [
    "Categorized",
    "EndpointInfo",
    "EndpointsChangeTracker",
    "EndpointsMap",
    "SCHEDULER_ANNOTATION",
    "SCHEDULER_FLAGS_ANNOTATION",
    "ServiceChangeTracker",
    "ServicePortInfo",
    "ServicePortMap",
    "ServicePortName",
    "UpdateEndpointsResult",
    "UpdateServicesResult",
    "categorize_endpoints",
    "endpoints_by_port",
    "service_port_infos",
    "should_skip_service",
    "slice_service",
]
