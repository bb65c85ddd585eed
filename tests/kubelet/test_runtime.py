"""ProcessRuntime: start/stop, grace then SIGKILL, no leaked processes, exit reasons, logs, crashes."""

import asyncio
import json
import os
import signal
import socket
import sys
import textwrap
import uuid

import pytest

from svcnet.kubelet.runtime import ContainerConfig, ProcessRuntime, StartFailed, leftover_pids

from ._util import eventually, kill_group, pid_alive

PY = sys.executable
IGNORE_TERM = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


@pytest.fixture
async def rt(tmp_path):
    r = ProcessRuntime(tmp_path / "state")
    yield r
    for c in list(r.containers.values()):
        kill_group(c.pgid)
    await r.stop_all(0)


def cfg(tmp_path, *argv, **kw):
    cid = uuid.uuid4().hex
    env = {"PATH": os.environ["PATH"], **kw.pop("env", {})}
    return ContainerConfig(container_id=cid, argv=tuple(argv), env=env, cwd=str(tmp_path), log_path=str(tmp_path / "logs" / f"{cid}.log"), **kw)


async def test_start_runs_in_own_session_and_logs(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, PY, "-c", "import os,sys; print('out', os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid()); print('err', file=sys.stderr)"))
    st = await asyncio.wait_for(c.wait(), 10)
    assert (st.exit_code, st.reason, st.signal) == (0, "Completed", None)
    log = open(c.config.log_path).read()
    assert "out True True" in log and "err" in log
    assert not (rt.records / f"{c.id}.json").exists()  # record removed at exit


async def test_exit_code_error(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, PY, "-c", "raise SystemExit(3)"))
    st = await asyncio.wait_for(c.wait(), 10)
    assert (st.exit_code, st.reason) == (3, "Error")


async def test_stop_graceful_sigterm(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, PY, "-m", "svcnet.kubelet.standin", "pause"))
    await asyncio.sleep(0.3)
    st = await asyncio.wait_for(c.stop(10), 15)
    assert (st.exit_code, st.reason) == (0, "Completed")
    assert not pid_alive(c.pid)


async def test_stop_sigkills_after_grace_when_sigterm_ignored(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, PY, "-c", IGNORE_TERM))
    await eventually(lambda: "ready" in open(c.config.log_path).read(), what="child ready")
    st = await asyncio.wait_for(c.stop(0.5), 10)
    assert (st.exit_code, st.signal, st.reason) == (137, signal.SIGKILL, "Error")
    assert not pid_alive(c.pid)


async def test_stop_leaves_no_process_behind(rt, tmp_path):
    script = textwrap.dedent(
        """
        import subprocess, sys, time, signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kids = [subprocess.Popen(["sleep", "100"]), subprocess.Popen(["sh", "-c", "sleep 100 & sleep 100 & wait"]),
                subprocess.Popen(["sleep", "100"], start_new_session=True)]  # a daemon that left the group
        print("ready", flush=True)
        time.sleep(100)
        """
    )
    c = await rt.start(cfg(tmp_path, PY, "-c", script))
    await eventually(lambda: "ready" in open(c.config.log_path).read(), what="children started")
    pids = await eventually(lambda: (p := leftover_pids(c.id, c.pgid)) and len(p) >= 6 and p, what="all 6 processes")
    assert c.pid in pids
    await asyncio.wait_for(c.stop(0.3), 10)
    await eventually(lambda: not any(pid_alive(p) for p in pids), timeout=5, what="every PID gone")


async def test_exit_of_main_process_tears_down_the_rest(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, "sh", "-c", "sleep 100 & echo $! > child.pid; exit 4"))
    st = await asyncio.wait_for(c.wait(), 10)
    assert st.exit_code == 4
    child = int((tmp_path / "child.pid").read_text())
    await eventually(lambda: not pid_alive(child), timeout=5, what="orphan killed")


async def test_bind_failure_reason_port_in_use(rt, tmp_path):
    holder = socket.socket()
    holder.bind(("127.244.250.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        c = await rt.start(cfg(tmp_path, PY, "-m", "http.server", "--bind", "127.244.250.1", str(port)))
        st = await asyncio.wait_for(c.wait(), 10)
        assert st.reason == "BindFailed" and "Address already in use" in st.message
        c2 = await rt.start(cfg(tmp_path, PY, "-m", "svcnet.kubelet.standin", "echo", env={"POD_IP": "127.244.250.1", "SVCNET_CONTAINER_PORTS": f":{port}/TCP"}))
        st2 = await asyncio.wait_for(c2.wait(), 10)
        assert st2.reason == "BindFailed"
        assert st2.message == f"svcnet: cannot bind 127.244.250.1:{port}/TCP: Address already in use"
    finally:
        holder.close()


async def test_bind_failure_not_reported_for_a_stopped_container(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, "sh", "-c", "echo 'Address already in use (old line)'; sleep 100"))
    await eventually(lambda: "Address" in open(c.config.log_path).read(), what="log line")
    st = await asyncio.wait_for(c.stop(0.2), 10)
    assert st.reason == "Error"  # killed by us, not a bind failure


async def test_fallback_to_logs_on_error_message(rt, tmp_path):
    c = await rt.start(cfg(tmp_path, "sh", "-c", "echo first; echo 'last words' >&2; exit 2", fallback_to_logs=True))
    st = await asyncio.wait_for(c.wait(), 10)
    assert st.message.endswith("last words") and "first" in st.message


async def test_log_of_a_new_run_does_not_see_old_bind_errors(rt, tmp_path):
    cfg1 = cfg(tmp_path, "sh", "-c", "echo 'OSError: [Errno 98] Address already in use'; exit 1")
    st = await asyncio.wait_for((await rt.start(cfg1)).wait(), 10)
    assert st.reason == "BindFailed"
    cfg2 = ContainerConfig(container_id=uuid.uuid4().hex, argv=("sh", "-c", "exit 1"), env=cfg1.env, cwd=cfg1.cwd, log_path=cfg1.log_path)
    st2 = await asyncio.wait_for((await rt.start(cfg2)).wait(), 10)
    assert st2.reason == "Error"


@pytest.mark.parametrize(
    "argv, cwd, text",
    [
        (("/no/such/program",), None, 'exec: "/no/such/program": executable file not found in $PATH'),
        (("true",), "/no/such/dir", "chdir to cwd"),
    ],
)
async def test_start_failure_is_start_error(rt, tmp_path, argv, cwd, text):
    c = ContainerConfig(container_id="x", argv=argv, env={"PATH": os.environ["PATH"]}, cwd=cwd, log_path=str(tmp_path / "l.log"))
    with pytest.raises(StartFailed) as e:
        await rt.start(c)
    assert e.value.reason == "StartError" and text in e.value.message


async def test_cleanup_leftovers_of_a_crashed_agent(tmp_path):
    """A previous agent dies hard: its direct child dies with it (PDEATHSIG), a grandchild that
    survives is killed by the next agent's cleanup, found by its marker."""
    state = tmp_path / "state"
    agent = textwrap.dedent(
        f"""
        import asyncio, json, os, sys, uuid
        from svcnet.kubelet.runtime import ContainerConfig, ProcessRuntime
        async def main():
            rt = ProcessRuntime({str(state)!r})
            cfg = ContainerConfig(container_id=uuid.uuid4().hex, argv=("sh", "-c", "sleep 100 & echo $! > {tmp_path}/gc.pid; wait"),
                                  env={{"PATH": os.environ["PATH"]}}, cwd={str(tmp_path)!r}, log_path={str(tmp_path / "c.log")!r})
            c = await rt.start(cfg)
            while not os.path.exists({str(tmp_path / "gc.pid")!r}):
                await asyncio.sleep(0.02)
            print(json.dumps({{"pid": c.pid}}), flush=True)
            os._exit(9)  # crash: no clean-up at all
        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(PY, "-c", agent, stdout=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        kill_group(proc.pid)
    child = json.loads(out)["pid"]
    grandchild = int((tmp_path / "gc.pid").read_text())
    try:
        await eventually(lambda: not pid_alive(child), timeout=5, what="child killed by PDEATHSIG")
        assert pid_alive(grandchild)
        rt2 = ProcessRuntime(state)
        killed = rt2.cleanup_leftovers()
        assert grandchild in killed
        await eventually(lambda: not pid_alive(grandchild), timeout=5, what="grandchild killed")
        assert list(rt2.records.glob("*.json")) == []
    finally:
        for p in (child, grandchild):
            if pid_alive(p):
                os.kill(p, signal.SIGKILL)
