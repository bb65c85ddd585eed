"""Image resolution, exec plans, port encoding and bind-failure detection."""

import pytest

from svcnet.kubelet.images import (
    BIND_FAILED_PREFIX,
    bind_failure,
    format_ports,
    parse_image,
    parse_ports,
    plan_exec,
    resolve,
)


@pytest.mark.parametrize(
    "ref, want",
    [
        ("nginx", ("docker.io", "library/nginx", "", "")),
        ("nginx:1.25", ("docker.io", "library/nginx", "1.25", "")),
        ("registry.k8s.io/e2e-test-images/agnhost:2.47", ("registry.k8s.io", "e2e-test-images/agnhost", "2.47", "")),
        ("localhost:5000/x/y:tag@sha256:abc", ("localhost:5000", "x/y", "tag", "sha256:abc")),
        ("svcnet/echo", ("docker.io", "svcnet/echo", "", "")),
    ],
)
def test_parse_image_table(ref, want):
    assert parse_image(ref) == want


@pytest.mark.parametrize(
    "image, kind, port",
    [
        ("registry.k8s.io/e2e-test-images/agnhost:2.47", "agnhost", None),
        ("k8s.gcr.io/e2e-test-images/agnhost:2.39", "agnhost", None),
        ("nginx", "nginx", 80),
        ("docker.io/library/nginx:1.27-alpine", "nginx", 80),
        ("nginxinc/nginx-unprivileged:stable", "nginx", 8080),
        ("httpd:2.4", "httpd", 80),
        ("svcnet/echo", "echo", 8080),
        ("svcnet/echo:latest", "echo", 8080),
        ("registry.k8s.io/pause:3.9", "pause", None),
    ],
)
def test_resolve_known_images(image, kind, port):
    st = resolve(image)
    assert st is not None and (st.kind, st.default_port) == (kind, port)


@pytest.mark.parametrize("image", ["redis", "busybox:1.36", "mycorp/app:v1", ""])
def test_resolve_unknown_images(image):
    assert resolve(image) is None


def test_plan_exec_command_runs_as_given():
    p = plan_exec({"image": "python:3.12", "command": ["python3", "-m", "http.server"], "args": ["--bind", "$(POD_IP)"]}, "/py")
    assert p.argv == ("python3", "-m", "http.server", "--bind", "$(POD_IP)") and not p.error


def test_plan_exec_standin_with_args():
    p = plan_exec({"image": "registry.k8s.io/e2e-test-images/agnhost:2.47", "args": ["netexec", "--http-port=8080"]}, "/py")
    assert p.argv == ("/py", "-m", "svcnet.kubelet.standin", "agnhost", "netexec", "--http-port=8080")


def test_plan_exec_standin_entrypoint_command_is_rewritten():
    p = plan_exec({"image": "registry.k8s.io/e2e-test-images/agnhost:2.47", "command": ["/agnhost", "serve-hostname"], "args": ["--port=9000"]}, "/py")
    assert p.argv[3:] == ("agnhost", "serve-hostname", "--port=9000")


def test_plan_exec_unknown_image_is_refused_with_the_list():
    p = plan_exec({"image": "redis:7"}, "/py")
    assert p.error and "redis:7" in p.error and "svcnet/echo" in p.error and "agnhost" in p.error


def test_plan_exec_unsupported_agnhost_subcommand():
    p = plan_exec({"image": "registry.k8s.io/e2e-test-images/agnhost:2.47", "args": ["porter"]}, "/py")
    assert "porter" in p.error and "netexec" in p.error


def test_ports_round_trip():
    ports = [{"name": "http", "containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]
    text = format_ports(ports)
    assert text == "http:8080/TCP,:53/UDP"
    assert parse_ports(text) == [("http", 8080, "TCP"), ("", 53, "UDP")]
    assert parse_ports("") == [] and parse_ports("junk,:x/TCP") == []


@pytest.mark.parametrize(
    "log, want",
    [
        pytest.param(f"hello\n{BIND_FAILED_PREFIX}127.244.1.5:80/TCP: Permission denied\n", "svcnet: cannot bind 127.244.1.5:80/TCP: Permission denied", id="standin"),
        pytest.param("Traceback...\nOSError: [Errno 98] Address already in use\n", "OSError: [Errno 98] Address already in use", id="python-eaddrinuse"),
        pytest.param("PermissionError: [Errno 13] Permission denied\n", "PermissionError: [Errno 13] Permission denied", id="python-eacces"),
        pytest.param('nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)\n', 'nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)', id="nginx"),
        pytest.param("listen tcp 127.0.0.1:80: bind: permission denied\n", "listen tcp 127.0.0.1:80: bind: permission denied", id="go"),
        pytest.param("everything fine\n", None, id="none"),
    ],
)
def test_bind_failure_table(log, want):
    assert bind_failure(log) == want
