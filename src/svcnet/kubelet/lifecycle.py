"""Container lifecycle hooks: ``lifecycle.preStop`` (run before SIGTERM on deletion).

Theory of operation
-------------------
Upstream semantics (``pkg/kubelet/kuberuntime/kuberuntime_container.go`` killContainer): the
hook runs first, inside the termination grace period; SIGTERM follows when it ends. If the hook
outlives the grace period it is abandoned and the container gets 2 more seconds. Handlers:
``sleep: {seconds}`` (KEP-3960), ``exec: {command}`` and ``httpGet`` (as the probes run them).
A failing hook is logged and does not stop the termination.

A ``preStop`` sleep is the standard answer to the race between a pod leaving the endpoints and
its process stopping: the pod keeps serving while proxies drop it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from svcnet.kubelet.probes import ProbeError, _exec, _http, resolve_port

__all__ = ["MIN_GRACE_AFTER_HOOK", "run_pre_stop"]

log = logging.getLogger(__name__)

#: what upstream grants after a hook that used up the grace period
MIN_GRACE_AFTER_HOOK = 2.0


async def run_pre_stop(
    container: dict, pod_ip: str, *, env: Mapping[str, str] | None, cwd: str | None, timeout: float
) -> str | None:
    """Run the container's preStop hook within ``timeout`` seconds. Returns an error message
    when it failed or timed out, None when it succeeded or there is none."""
    hook = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if not hook:
        return None
    try:
        if "sleep" in hook:
            coro = asyncio.sleep(float((hook["sleep"] or {}).get("seconds", 0)))
        elif "exec" in hook:
            coro = _exec(list((hook["exec"] or {}).get("command") or []), env, cwd, timeout)
        elif "httpGet" in hook:
            action = hook["httpGet"] or {}
            coro = _http(pod_ip, resolve_port(action.get("port"), container), action)
        else:
            return "preStop hook has no supported handler"
        async with asyncio.timeout(max(timeout, 0)):
            result = await coro
    except TimeoutError:
        return f"preStop hook did not finish within {timeout:g}s"
    except ProbeError as e:
        return f"preStop hook failed: {e}"
    if isinstance(result, tuple) and result[0] != "success":
        return f"preStop hook failed: {result[1]}"
    return None
