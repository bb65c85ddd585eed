"""Cluster DNS fed by the real pipeline: API registry -> EndpointSlice controller -> informers ->
DNS index -> a real UDP server, asked with dnspython.

Checks the issue's acceptance: a pod turning Ready appears in its headless Service's answer
after one informer event (the delay is logged), and a deleted Service turns NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import logging
import time

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype

from svcnet.client.inprocess import local_client
from svcnet.controllers.endpointslice import EndpointSliceController
from svcnet.dns.config import DNSConfig
from svcnet.dns.feed import DNSFeed
from svcnet.dns.index import ClusterIndex
from svcnet.dns.server import DNSServer

log = logging.getLogger(__name__)


async def _ask(port: int, name: str, rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=2)


def _a_records(reply: dns.message.Message) -> set[str]:
    return {rd.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset}


async def _until(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = await pred()
        if v:
            return v
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_headless_service_answers_follow_pod_readiness():
    client = local_client()
    await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}})
    ctl = EndpointSliceController(client)
    cfg = DNSConfig(upstreams=())
    index = ClusterIndex.for_config(cfg)
    server = DNSServer(cfg, index)
    await server.start("127.0.0.1", 0)
    feed = DNSFeed(client, index)
    tasks = [asyncio.create_task(ctl.run()), asyncio.create_task(feed.run())]
    name = "db.default.svc.cluster.local."
    try:
        await client.create(
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "db"},
                "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432}]},
            },
        )
        pod = await client.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "db-0", "labels": {"app": "db"}},
                "spec": {"nodeName": "node1", "hostname": "db-0", "subdomain": "db", "containers": [{"name": "pg", "image": "x"}]},
            },
        )
        pod["status"].update(
            phase="Running",
            podIP="127.244.1.7",
            podIPs=[{"ip": "127.244.1.7"}],
            conditions=[{"type": "Ready", "status": "False"}],
        )
        pod = await client.update_status("pods", pod)

        # not ready: the headless service has nothing to answer with
        async def nx() -> bool:
            r = await _ask(server.bound_port, name)
            return r.rcode() == dns.rcode.NXDOMAIN

        await _until(nx)

        # the pod turns Ready: one slice update, one informer event, then the A record
        before = feed.informers["endpointslices"].stats["events"]
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        t0 = time.monotonic()
        await client.update_status("pods", pod)

        async def answered() -> set[str]:
            return _a_records(await _ask(server.bound_port, name))

        assert await _until(answered) == {"127.244.1.7"}
        delay = time.monotonic() - t0
        events = feed.informers["endpointslices"].stats["events"] - before
        log.warning("pod Ready -> headless A record: %.1f ms after the status write, %d slice event(s)", delay * 1000, events)
        assert events == 1
        # the endpoint's hostname record (hostname + subdomain == service name)
        r = await _ask(server.bound_port, "db-0." + name)
        assert _a_records(r) == {"127.244.1.7"}

        # a deleted Service turns NXDOMAIN
        await client.delete("services", "db")
        await _until(nx)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
