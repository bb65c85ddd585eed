"""``svcnet validate``: runs the installed console script, checks exit codes and exact output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

SVCNET = Path(sys.executable).parent / "svcnet"

pytestmark = pytest.mark.skipif(not SVCNET.exists(), reason=f"console script not installed at {SVCNET} (pip install -e .)")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SVCNET), "validate", *args], input=stdin, capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


VALID_SVC = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""

RANGE = "must be between 1 and 65535, inclusive"


def test_validate_valid_service(tmp_path: Path) -> None:
    r = run("-f", write(tmp_path, "svc.yaml", VALID_SVC))
    assert (r.returncode, r.stdout, r.stderr) == (0, "service/web validated\n", "")


def test_validate_one_error(tmp_path: Path) -> None:
    f = write(tmp_path, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 65536, targetPort: 8080}]}\n")
    r = run("-f", f)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == f'The Service "web" is invalid: spec.ports[0].port: Invalid value: 65536: {RANGE}\n'


def test_validate_several_errors_multiline(tmp_path: Path) -> None:
    f = write(tmp_path, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 0}]}\n")
    r = run("-f", f)
    assert r.returncode == 1
    assert r.stderr == (
        'The Service "web" is invalid: \n'
        f"* spec.ports[0].port: Invalid value: 0: {RANGE}\n"
        f"* spec.ports[0].targetPort: Invalid value: 0: {RANGE}\n"
    )


def test_validate_directory_mixed(tmp_path: Path) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    write(d, "a-svc.yaml", VALID_SVC)
    write(
        d,
        "b-deploy.json",
        json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                },
            }
        ),
    )
    write(d, "c-slice.yml", """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: web-abcde}
        addressType: IPv4
        endpoints: [{addresses: [10.244.1.5]}]
        ports: [{name: http, port: 8080}]
        """)
    write(d, "README.md", "not a manifest")
    r = run("-f", str(d))
    assert r.returncode == 1
    assert r.stdout == "service/web validated\nendpointslice.discovery.k8s.io/web-abcde validated\n"
    assert r.stderr == (
        'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`\n'
    )


def test_validate_stdin_and_output_yaml(tmp_path: Path) -> None:
    r = run("-f", "-", "-o", "yaml", stdin=VALID_SVC)
    assert r.returncode == 0, r.stderr
    assert r.stdout == textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: default
        spec:
          internalTrafficPolicy: Cluster
          ports:
          - port: 80
            protocol: TCP
            targetPort: 80
          selector:
            app: web
          sessionAffinity: None
          type: ClusterIP
        """)


def test_validate_output_json_list_and_namespace(tmp_path: Path) -> None:
    f = write(tmp_path, "two.yaml", VALID_SVC + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n")
    r = run("-f", f, "-o", "json", "-n", "team")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1" and doc["metadata"] == {"resourceVersion": ""}
    svc, ns = doc["items"]
    assert svc["metadata"]["namespace"] == "team"
    assert ns == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"labels": {"kubernetes.io/metadata.name": "team"}, "name": "team"},
        "status": {"phase": "Active"},
    }
    assert r.stdout.startswith('{\n    "apiVersion": "v1",\n    "items": [\n')


def test_validate_clusterip_normalised_before_validation(tmp_path: Path) -> None:
    f = write(tmp_path, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n")
    r = run("-f", f, "-o", "yaml")
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["spec"]["clusterIPs"] == ["10.96.0.10"]


def test_validate_unreadable_manifest(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.yaml", "kind: Service\n")
    r = run("-f", f)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f'error: error validating "{f}" (document 1): error validating data: apiVersion not set\n'


def test_validate_unknown_kind(tmp_path: Path) -> None:
    f = write(tmp_path, "w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    r = run("-f", f)
    assert r.returncode == 1
    assert r.stderr == f'error: unable to recognize "{f}": no matches for kind "Widget" in version "example.com/v1"\n'


def test_validate_missing_path(tmp_path: Path) -> None:
    r = run("-f", str(tmp_path / "nope.yaml"))
    assert (r.returncode, r.stderr) == (1, f'error: the path "{tmp_path / "nope.yaml"}" does not exist\n')


def test_validate_no_objects(tmp_path: Path) -> None:
    r = run("-f", write(tmp_path, "empty.yaml", "---\n# nothing\n"))
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "error: no objects passed to validate\n")


def test_validate_bad_output_format(tmp_path: Path) -> None:
    r = run("-f", write(tmp_path, "svc.yaml", VALID_SVC), "-o", "wide")
    assert r.returncode == 1
    assert r.stderr == 'error: unable to match a printer suitable for the output format "wide", allowed formats are: json,yaml\n'


def test_validate_generate_name(tmp_path: Path) -> None:
    f = write(tmp_path, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {generateName: web-}\nspec: {ports: [{port: 80}]}\n")
    r = run("-f", f)
    assert (r.returncode, r.stdout) == (0, "service/web- validated\n")


def test_validate_help() -> None:
    r = subprocess.run([str(SVCNET), "validate", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "--filename" in r.stdout
