"""Store throughput: writes/s and reads/s for the memory and SQLite backends.

The workload is the one the lab benchmark drives through the API server: Services, their Pods
and one EndpointSlice per Service (realistic object sizes), then updates, gets, lists and a
watch replay. Every write is its own transaction (as the API server issues them).

    python bench/store.py                      # 10,000 Services, 100,000 Pods, both backends
    python bench/store.py --services 1000 --pods-per-service 10 --backend sqlite
    python bench/store.py --synchronous FULL   # fsync per commit (power-loss durable)
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from svcnet.store import MemoryStore, SqliteStore  # noqa: E402

NAMESPACES = [f"ns-{i}" for i in range(20)]


def service(ns: str, i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{i}",
            "namespace": ns,
            "uid": f"00000000-0000-4000-8000-{i:012d}",
            "labels": {"app": f"app-{i}", "tier": "backend"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": f"app-{i}"},
            "clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
            "clusterIPs": [f"10.96.{i // 250}.{i % 250 + 1}"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


def pod(ns: str, svc: int, j: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"app-{svc}-{j:04d}",
            "namespace": ns,
            "uid": f"00000000-0000-4000-9000-{svc:08d}{j:04d}",
            "labels": {"app": f"app-{svc}", "pod-template-hash": "5d4f8c7b9"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"app-{svc}-5d4f8c7b9",
                 "uid": f"00000000-0000-4000-a000-{svc:012d}", "controller": True}
            ],
        },
        "spec": {
            "nodeName": f"node-{j % 8}",
            "containers": [
                {"name": "app", "image": "registry.example/app:1.0", "command": ["/app", "--port=8080"],
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.244.{j % 250}.{svc % 250 + 1}",
            "podIPs": [{"ip": f"10.244.{j % 250}.{svc % 250 + 1}"}],
            "hostIP": f"192.168.0.{j % 8 + 1}",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "startTime": "2026-01-01T00:00:01Z",
        },
    }


def slice_for(ns: str, svc: int, pods: list[dict]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{svc}-abcde",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": f"svc-{svc}",
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [p["status"]["podIP"]],
             "conditions": {"ready": True, "serving": True, "terminating": False},
             "nodeName": p["spec"]["nodeName"],
             "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                           "uid": p["metadata"]["uid"]}}
            for p in pods
        ],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def rate(n: int, seconds: float) -> str:
    return f"{n:>8,} ops in {seconds:6.2f}s = {n / seconds:>10,.0f}/s"


def run(name: str, store, services: int, per: int) -> None:
    """Write figures count only the time inside store calls (not building the objects)."""
    print(f"== {name}")
    pc = time.perf_counter
    spent = 0.0
    for i in range(services):
        obj = service(NAMESPACES[i % len(NAMESPACES)], i)
        t = pc()
        store.create("services", obj)
        spent += pc() - t
    print(f"  create services        {rate(services, spent)}")
    total = spent
    spent = 0.0
    for i in range(services):
        ns = NAMESPACES[i % len(NAMESPACES)]
        for j in range(per):
            obj = pod(ns, i, j)
            t = pc()
            store.create("pods", obj)
            spent += pc() - t
    print(f"  create pods            {rate(services * per, spent)}")
    total += spent
    spent = 0.0
    for i in range(services):
        ns = NAMESPACES[i % len(NAMESPACES)]
        obj = slice_for(ns, i, [pod(ns, i, j) for j in range(per)])
        t = pc()
        store.create("endpointslices", obj)
        spent += pc() - t
    print(f"  create endpointslices  {rate(services, spent)}")
    total += spent
    print(f"  all creates            {rate(services * (per + 2), total)}")

    # read-modify-write with the resourceVersion precondition, as a kubelet updates status
    rnd = random.Random(1)
    picks = [(rnd.randrange(services), rnd.randrange(per)) for _ in range(min(20_000, services * per))]
    t4 = time.perf_counter()
    for i, j in picks:
        p = store.get("pods", NAMESPACES[i % len(NAMESPACES)], f"app-{i}-{j:04d}")
        p["status"]["conditions"][-1]["lastTransitionTime"] = "2026-01-01T00:01:00Z"
        store.update("pods", p)
    t5 = time.perf_counter()
    print(f"  get+update pods        {rate(len(picks), t5 - t4)}")

    # reads
    sample = [
        (NAMESPACES[i % len(NAMESPACES)], f"app-{i}-{rnd.randrange(per):04d}")
        for i in (rnd.randrange(services) for _ in range(50_000 if per else 0))
    ]
    t6 = time.perf_counter()
    for ns, nm in sample:
        store.get("pods", ns, nm)
    t7 = time.perf_counter()
    print(f"  get pods               {rate(len(sample), t7 - t6)}")
    t8 = time.perf_counter()
    objs, _ = store.list("pods", NAMESPACES[0])
    t9 = time.perf_counter()
    print(f"  list pods, 1 namespace {rate(len(objs), t9 - t8)}  (objects/s)")
    objs, _ = store.list("pods")
    t10 = time.perf_counter()
    print(f"  list pods, all         {rate(len(objs), t10 - t9)}  (objects/s)")
    since = max(store.oldest_revision(), store.revision() - 20_000)
    del objs
    t10 = time.perf_counter()
    w = store.watch(None, since=since)
    n = len(w.drain())
    w.close()
    t11 = time.perf_counter()
    print(f"  watch replay           {rate(n, t11 - t10)}  (events/s)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--pods-per-service", type=int, default=10)
    ap.add_argument("--backend", choices=["memory", "sqlite", "both"], default="both")
    ap.add_argument("--synchronous", default="NORMAL", help="SQLite PRAGMA synchronous (NORMAL, FULL)")
    ap.add_argument("--dir", default=None, help="where to put the SQLite file (default: a temp dir)")
    a = ap.parse_args(argv)
    if a.backend in ("memory", "both"):
        s = MemoryStore()
        run("memory", s, a.services, a.pods_per_service)
        s.close()
    if a.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(dir=a.dir) as d:
            path = os.path.join(d, "bench.sqlite")
            s = SqliteStore(path, synchronous=a.synchronous)
            run(f"sqlite (synchronous={a.synchronous}, {path})", s, a.services, a.pods_per_service)
            s.close()
            t0 = time.perf_counter()
            s = SqliteStore(path)
            t1 = time.perf_counter()
            n = sum(len(s.list_raw(r)[0]) for r in ("services", "pods", "endpointslices"))
            print(f"  reopen (load cache)    {rate(n, t1 - t0)}  (objects/s)")
            print(f"  file size              {os.path.getsize(path) / 1e6:,.1f} MB")
            s.close()


if __name__ == "__main__":
    main()
