"""``svcnet delete`` against the in-process API; texts as kubectl 1.27-1.33 print them."""

from __future__ import annotations

import asyncio
import io

from svcnet.cli.cmd_delete import run_delete
from svcnet.client.inprocess import local_client

SVC = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n"


async def delete(client, *args, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = await run_delete(client, list(args), out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


async def with_services(*names: str, labels: dict | None = None):
    c = local_client()
    for n in names:
        md = {"name": n, **({"labels": labels} if labels else {})}
        await c.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": {"ports": [{"port": 80}]}})
    return c


async def names(c, resource: str = "services") -> list[str]:
    return [o["metadata"]["name"] for o in (await c.list(resource))["items"]]


async def test_delete_by_name_and_missing_names() -> None:
    c = await with_services("a", "c")
    assert await delete(c, "svc", "a", "nope", "c") == (1, 'service "a" deleted\nservice "c" deleted\n', 'Error from server (NotFound): services "nope" not found\n')
    assert await names(c) == ["kubernetes"]
    assert await delete(c, "svc", "nope") == (1, "", 'Error from server (NotFound): services "nope" not found\n')
    assert await delete(c, "svc", "nope", ignore_not_found=True) == (0, "", "")


async def test_delete_type_slash_name_output_name_and_grouped_kinds() -> None:
    c = await with_services("a", "c")
    await c.create("deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                                   "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}}}})
    assert await delete(c, "svc/a", "deploy/d") == (0, 'service "a" deleted\ndeployment.apps "d" deleted\n', "")
    assert await delete(c, "svc", "c", output="name") == (0, "service/c\n", "")


async def test_delete_grace_force_now_and_dry_runs() -> None:
    c = await with_services("a", "b", "c", "d")
    assert await delete(c, "svc", "a", dry_run="client") == (0, 'service "a" deleted (dry run)\n', "")
    assert await delete(c, "svc", "a", dry_run="server") == (0, 'service "a" deleted (server dry run)\n', "")
    assert await names(c) == ["a", "b", "c", "d", "kubernetes"]
    assert await delete(c, "svc", "a", now=True) == (0, 'service "a" deleted\n', "")
    assert await delete(c, "svc", "b", grace_period=0, force=True) == (
        0,
        'service "b" force deleted\n',
        "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. "
        "The resource may continue to run on the cluster indefinitely.\n",
    )
    assert await delete(c, "svc", "c", grace_period=0) == (0, 'service "c" deleted\n', "")  # 0 without --force is 1
    assert await delete(c, "svc", "d", now=True, grace_period=3) == (1, "", "error: --now and --grace-period cannot be specified together\n")


async def test_delete_by_selector_and_all() -> None:
    c = await with_services("a", "b", labels={"app": "x"})
    assert await delete(c, "svc", selector="app=nothing") == (0, "No resources found\n", "")
    assert await delete(c, "svc", selector="app=x") == (0, 'service "a" deleted\nservice "b" deleted\n', "")
    assert await delete(c, "svc") == (1, "", "error: resource(s) were provided, but no name was specified\n")
    assert await delete(c, "svc", "a", selector="x=y") == (1, "", "error: name cannot be provided when a selector is specified\n")
    await c.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "z"}, "spec": {"ports": [{"port": 80}]}})
    assert await delete(c, "svc", all_=True, output="name") == (0, "service/kubernetes\nservice/z\n", "")


async def test_delete_from_file_reports_missing_with_source(tmp_path) -> None:
    c = await with_services("a", "c")
    path = tmp_path / "multi.yaml"
    path.write_text("---\n".join(SVC.format(name=n) for n in ("a", "bad", "c")))
    rc, out, err = await delete(c, filenames=[str(path)])
    assert (rc, out) == (1, 'service "a" deleted\nservice "c" deleted\n')
    assert err == f'Error from server (NotFound): error when deleting "{path}": services "bad" not found\n'
    assert await delete(c, "svc", "a", filenames=[str(path)]) == (
        1, "", "error: when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well\n"
    )
    assert (await delete(c))[2].startswith("error: You must provide one or more resources by argument or filename.")


async def test_delete_waits_for_graceful_pod_deletion() -> None:
    c = local_client()
    await c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    await c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}})
    # --wait=false returns while the pod is terminating (no kubelet here finishes it)
    assert await delete(c, "pod", "p", wait=False) == (0, 'pod "p" deleted\n', "")
    assert (await c.get("pods", "p"))["metadata"].get("deletionTimestamp")
    # with --wait, the command returns once the pod is gone (a "kubelet" finishes it here)
    await c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}})
    task = asyncio.create_task(delete(c, "pod", "q", timeout=10))
    await asyncio.sleep(0.2)
    assert not task.done()
    await c.delete("pods", "q", grace_period_seconds=0)
    assert await asyncio.wait_for(task, 10) == (0, 'pod "q" deleted\n', "")


async def test_delete_wait_timeout() -> None:
    c = local_client()
    await c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    await c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}})
    rc, out, err = await delete(c, "pod", "p", timeout=0.3)
    assert (rc, out, err) == (1, 'pod "p" deleted\n', "error: timed out waiting for the condition on pods/p\n")
