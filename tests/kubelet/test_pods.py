"""Pod lifecycle core: restart policies, back-off, phases, statuses, conditions, grace."""

from dataclasses import replace

import pytest

from svcnet.kubelet.pods import (
    RUNNING,
    TERMINATED,
    WAITING,
    BackoffPolicy,
    ContainerRec,
    Terminated,
    build_status,
    container_step,
    crash_loop,
    go_duration,
    grace_period,
    on_blocked,
    on_exited,
    on_started,
    pod_phase,
    should_restart,
)

BP = BackoffPolicy(initial=10, max=300)


@pytest.mark.parametrize(
    "policy, code, forced, want",
    [
        ("Always", 0, False, True),
        ("Always", 1, False, True),
        ("OnFailure", 0, False, False),
        ("OnFailure", 2, False, True),
        ("OnFailure", 0, True, True),  # killed by a liveness probe: restart whatever the exit code
        ("Never", 1, False, False),
        ("Never", 0, True, False),
    ],
)
def test_should_restart_table(policy, code, forced, want):
    assert should_restart(policy, code, forced=forced) is want


def exit_at(rec, t, code=1, run_for=1.0):
    return on_exited(rec, Terminated(exit_code=code, reason="Error" if code else "Completed", started_at=t - run_for, finished_at=t))


def crash_sequence(n, *, run_for=1.0, policy="Always", bp=BP):
    """Start a container, let it crash ``n`` times (each after ``run_for`` s); return the delays
    between each crash and the following restart, and the final record."""
    rec = on_started(ContainerRec(name="c", image="i"), "id0", 0.0, bp)
    t = 0.0
    delays = []
    for i in range(n):
        t += run_for
        rec = exit_at(rec, t, run_for=run_for)
        action, until = container_step(rec, policy=policy, now=t, bp=bp)
        start = t if action == "start" else until
        if action == "backoff":
            rec = crash_loop(rec, "p_ns(uid)")
            assert rec.state == WAITING and rec.reason == "CrashLoopBackOff"
            assert container_step(rec, policy=policy, now=until - 0.001, bp=bp)[0] == "backoff"
            assert container_step(rec, policy=policy, now=until, bp=bp)[0] == "start"
        delays.append(start - t)
        t = start
        rec = on_started(rec, f"id{i + 1}", t, bp)
    return delays, rec


def test_backoff_sequence_10s_doubling_capped_at_300s():
    delays, rec = crash_sequence(9)
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert rec.restart_count == 9 and rec.state == RUNNING
    assert rec.last is not None and rec.last.exit_code == 1


def test_backoff_configurable_base():
    delays, _ = crash_sequence(5, run_for=0.001, bp=BackoffPolicy(initial=0.01, max=0.05))
    assert delays == pytest.approx([0, 0.01, 0.02, 0.04, 0.05])


def test_backoff_resets_after_running_ten_minutes():
    delays, rec = crash_sequence(4)
    assert delays[-1] == 40
    t = rec.started_at + 601  # ran > 2*max since the last restart
    rec = exit_at(rec, t, run_for=601)
    assert container_step(rec, policy="Always", now=t, bp=BP) == ("start", None)
    rec = on_started(rec, "x", t, BP)
    assert rec.backoff == 10


def test_crash_loop_message_and_last_state():
    _, rec = crash_sequence(2)
    rec = exit_at(rec, rec.started_at + 1)
    rec = crash_loop(rec, "web_shop(u1)")
    assert rec.message == "back-off 20s restarting failed container=c pod=web_shop(u1)"
    assert rec.last is not None and rec.terminated is None


@pytest.mark.parametrize(
    "policy, code, action",
    [("Never", 1, "none"), ("Never", 0, "none"), ("OnFailure", 0, "none"), ("OnFailure", 1, "start"), ("Always", 0, "start")],
)
def test_first_exit_restart_table(policy, code, action):
    rec = on_started(ContainerRec(name="c", image="i"), "a", 0, BP)
    rec = exit_at(rec, 5, code=code)
    assert container_step(rec, policy=policy, now=5, bp=BP)[0] == action


def test_blocked_container_is_never_started():
    rec = on_blocked(ContainerRec(name="c", image="redis"), "ImageNotSupported", "nope")
    assert container_step(rec, policy="Always", now=0, bp=BP) == ("none", None)


@pytest.mark.parametrize("s, want", [(10, "10s"), (20, "20s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (0.05, "50ms")])
def test_go_duration_table(s, want):
    assert go_duration(s) == want


def rec(state, code=None, last=None, restarts=0):
    r = ContainerRec(name="c", image="i", state=state, restart_count=restarts)
    if state == RUNNING:
        r = replace(r, started_at=1.0, container_id="svcnet://a")
    if code is not None:
        t = Terminated(exit_code=code, reason="Error" if code else "Completed", started_at=1, finished_at=2)
        r = replace(r, terminated=t) if state == TERMINATED else r
        if last:
            r = replace(r, last=t)
    return r


C2 = [{"name": "a"}, {"name": "b"}]


@pytest.mark.parametrize(
    "states, policy, terminal, phase",
    [
        pytest.param({"a": rec(WAITING), "b": rec(RUNNING)}, "Always", False, "Pending", id="one-waiting-pending"),
        pytest.param({"a": rec(RUNNING), "b": rec(RUNNING)}, "Always", False, "Running", id="all-running"),
        pytest.param({"a": rec(RUNNING), "b": rec(TERMINATED, 1)}, "Never", False, "Running", id="one-running"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 0)}, "Never", False, "Succeeded", id="never-all-zero"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 1)}, "Never", False, "Failed", id="never-one-failed"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 0)}, "OnFailure", False, "Succeeded", id="onfailure-all-zero"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 1)}, "OnFailure", False, "Running", id="onfailure-restarting"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 0)}, "Always", False, "Running", id="always-restarting"),
        pytest.param({"a": rec(WAITING, 1, last=True), "b": rec(RUNNING)}, "Always", False, "Running", id="crashloop-counts-stopped"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 137)}, "Always", True, "Failed", id="terminal-killed"),
        pytest.param({"a": rec(TERMINATED, 0), "b": rec(TERMINATED, 0)}, "Always", True, "Succeeded", id="terminal-clean"),
        pytest.param({"a": rec(RUNNING)}, "Always", False, "Pending", id="unknown-container-pending"),
    ],
)
def test_pod_phase_table(states, policy, terminal, phase):
    assert pod_phase(C2, states, policy, terminal=terminal) == phase


def test_pod_phase_never_leaves_terminal():
    assert pod_phase(C2, {"a": rec(RUNNING), "b": rec(RUNNING)}, "Always", old_phase="Failed") == "Failed"


def pod(**spec):
    spec.setdefault("containers", [{"name": "c", "image": "i"}])
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def conds(status):
    return {c["type"]: c for c in status["conditions"]}


def status(p, r, results=None, now=1000.0, **kw):
    return build_status(p, {"c": r}, probe_results=results or {}, pod_ip="127.244.1.5", host_ip="127.0.0.1", start_time=990.0, now=now, **kw)


def test_build_status_running_ready_without_probes():
    st = status(pod(), rec(RUNNING))
    assert st["phase"] == "Running" and st["podIP"] == "127.244.1.5" and st["podIPs"] == [{"ip": "127.244.1.5"}]
    assert st["hostIP"] == "127.0.0.1" and st["hostIPs"] == [{"ip": "127.0.0.1"}] and st["qosClass"] == "BestEffort"
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["state"] == {"running": {"startedAt": "1970-01-01T00:00:01Z"}}
    c = conds(st)
    assert [x["type"] for x in st["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert c["Ready"]["status"] == c["ContainersReady"]["status"] == "True"


@pytest.mark.parametrize(
    "results, ready, started",
    [
        ({("c", "readiness"): "failure"}, False, True),
        ({("c", "readiness"): "success"}, True, True),
        ({("c", "startup"): "unknown", ("c", "readiness"): "success"}, False, False),
        ({("c", "startup"): "success", ("c", "readiness"): "failure"}, False, True),
        ({("c", "startup"): "success"}, True, True),
    ],
)
def test_build_status_probe_gating_table(results, ready, started):
    cs = status(pod(), rec(RUNNING), results)["containerStatuses"][0]
    assert (cs["ready"], cs["started"]) == (ready, started)


def test_build_status_unready_message():
    c = conds(status(pod(), rec(RUNNING), {("c", "readiness"): "failure"}))
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "ContainersNotReady"
    assert c["ContainersReady"]["message"] == "containers with unready status: [c]"


def test_build_status_unready_on_delete_flag():
    assert status(pod(), rec(RUNNING), unready=True)["containerStatuses"][0]["ready"] is False


def test_build_status_terminal_pod_completed():
    st = status(pod(restartPolicy="Never"), rec(TERMINATED, 0))
    c = conds(st)
    assert st["phase"] == "Succeeded" and c["Ready"]["reason"] == "PodCompleted" and c["ContainersReady"]["status"] == "False"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_build_status_transition_time_moves_only_on_flip():
    p = pod()
    first = status(p, rec(RUNNING), {("c", "readiness"): "failure"}, now=1000)
    p["status"] = first
    same = status(p, rec(RUNNING), {("c", "readiness"): "failure"}, now=2000)
    assert same == first  # nothing changed: nothing to write
    flipped = status(p, rec(RUNNING), {("c", "readiness"): "success"}, now=3000)
    assert conds(flipped)["Ready"]["lastTransitionTime"] == "1970-01-01T00:50:00Z"
    assert conds(flipped)["Initialized"]["lastTransitionTime"] == conds(first)["Initialized"]["lastTransitionTime"]


def test_build_status_readiness_gates():
    p = pod(readinessGates=[{"conditionType": "example.com/lb"}])
    c = conds(status(p, rec(RUNNING)))
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert c["ContainersReady"]["status"] == "True"
    p["status"]["conditions"] = [{"type": "example.com/lb", "status": "True"}]
    st = status(p, rec(RUNNING))
    assert conds(st)["Ready"]["status"] == "True"
    assert st["conditions"][0]["type"] == "example.com/lb"  # foreign conditions are kept, first


def test_build_status_crashloop_waiting_with_last_state():
    r = on_started(ContainerRec(name="c", image="i"), "svcnet://a", 0, BP)
    r = exit_at(r, 5)
    r = on_started(r, "svcnet://b", 5, BP)
    r = exit_at(r, 6)
    r = crash_loop(r, "p_ns(u)")
    cs = status(pod(), r)["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 1
    assert cs["ready"] is False


def test_build_status_image_not_supported_is_pending_with_reason():
    r = on_blocked(ContainerRec(name="c", image="redis"), "ImageNotSupported", "no")
    st = status(pod(), r)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ImageNotSupported", "message": "no"}}


@pytest.mark.parametrize(
    "md, spec, probe, deleting, want",
    [
        ({}, {}, None, False, 30),
        ({}, {"terminationGracePeriodSeconds": 5}, None, False, 5),
        ({}, {"terminationGracePeriodSeconds": 0}, None, False, 2),  # kubelet minimum
        ({"deletionGracePeriodSeconds": 7}, {"terminationGracePeriodSeconds": 30}, None, True, 7),
        ({"deletionGracePeriodSeconds": 0}, {}, None, True, 0),
        ({}, {"terminationGracePeriodSeconds": 30}, 3.0, False, 3),
    ],
)
def test_grace_period_table(md, spec, probe, deleting, want):
    assert grace_period({"metadata": md, "spec": spec}, probe_grace=probe, deleting=deleting) == want
