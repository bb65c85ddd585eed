"""kubectl-style printing: the tabwriter, table decoration, names, YAML/JSON and error texts.

Expected layouts were checked against real kubectl 1.33 output (the table cases also against
pkg/printers/internalversion/printers_test.go, whose NoHeaders outputs are ported by name).
"""

from __future__ import annotations

import datetime as dt
import io

import pytest

from svcnet.api.errors import AlreadyExists, BadRequest, FieldError, Forbidden, Invalid, NotFound, ServiceUnavailable, SvcnetError, Unauthorized
from svcnet.api.manifest import load_manifests
from svcnet.api.resources import by_name
from svcnet.apiserver.tables import to_table
from svcnet.cli.printers import (
    PrintOptions,
    TablePrinter,
    TabWriter,
    dump_objects,
    format_error,
    format_errors,
    name_of,
    qualified_name,
    to_list,
)

NOW = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.timezone.utc)


def render(table: dict, **opts) -> str:
    out = io.StringIO()
    w = TabWriter(out)
    TablePrinter(PrintOptions(**opts)).print_table(table, w)
    w.flush()
    return out.getvalue()


def svc(name: str, typ: str = "ClusterIP", *, ip="10.96.0.1", ports=None, ns="default", labels=None, created="2026-01-10T11:59:30Z") -> dict:
    md = {"name": name, "namespace": ns, "creationTimestamp": created}
    if labels:
        md["labels"] = labels
    return {"metadata": md, "spec": {"type": typ, "clusterIPs": [ip], "ports": ports or [{"port": 443, "protocol": "TCP"}]}}


# --------------------------------------------------------------------------------------------
# TabWriter


def test_tabwriter_min_width_six_padding_three() -> None:
    out = io.StringIO()
    w = TabWriter(out)
    w.write("test1\t5\t5\t2\t0s\n")
    w.flush()
    # printers_test.go TestPrintReplicaSet (no headers): min cell width 6 incl. padding
    assert out.getvalue() == "test1   5     5     2     0s\n"


def test_tabwriter_last_cell_not_padded_and_columns_aligned() -> None:
    out = io.StringIO()
    w = TabWriter(out)
    w.write("NAME\tA\tB\n")
    w.write("a-long-name\tx\ty\n")
    w.flush()
    assert out.getvalue() == "NAME          A     B\na-long-name   x     y\n"


def test_tabwriter_remembers_widths_across_flushes_until_reset() -> None:
    out = io.StringIO()
    w = TabWriter(out)
    w.write("a-very-long-name\tx\n")
    w.flush()
    w.write("b\ty\n")
    w.flush()
    assert out.getvalue() == "a-very-long-name   x\nb                  y\n"
    w.reset_widths()
    w.write("c\tz\n")
    w.flush()
    assert out.getvalue().endswith("c     z\n")


def test_tabwriter_single_cell_line_ends_the_column_block() -> None:
    # describe-style writer (min width 0, padding 2): the Ports: line splits the blocks
    out = io.StringIO()
    w = TabWriter(out, minwidth=0, padding=2, remember_widths=False)
    w.write("Name:\tx\nAddressType:\tIPv4\nPorts:\n  Name\tPort\n  http\t80\nEvents:\t<none>\n")
    w.flush()
    assert out.getvalue() == "Name:         x\nAddressType:  IPv4\nPorts:\n  Name   Port\n  http   80\nEvents:  <none>\n"


def test_tabwriter_empty_cells_are_padded() -> None:
    out = io.StringIO()
    w = TabWriter(out, minwidth=0, padding=2, remember_widths=False)
    w.write("Labels:\ta=1\n\tb=2\n")
    w.flush()
    assert out.getvalue() == "Labels:  a=1\n         b=2\n"


# --------------------------------------------------------------------------------------------
# tables

SERVICE_NO_HEADERS = [
    # printers_test.go TestPrintService (printed with NoHeaders)
    pytest.param({"metadata": {"name": "test1"}, "spec": {"type": "ClusterIP", "ports": [{"protocol": "tcp", "port": 2233}], "clusterIP": "10.9.8.7"}},
                 "test1   ClusterIP   10.9.8.7   <none>   2233/tcp   <unknown>\n", id="TestPrintService/test1"),
    pytest.param({"metadata": {"name": "test2"}, "spec": {"type": "NodePort", "ports": [{"protocol": "tcp", "port": 8888, "nodePort": 9999}], "clusterIP": "10.9.8.7"}},
                 "test2   NodePort   10.9.8.7   <none>   8888:9999/tcp   <unknown>\n", id="TestPrintService/test2"),
    pytest.param({"metadata": {"name": "test3"}, "spec": {"type": "LoadBalancer", "ports": [{"protocol": "tcp", "port": 8888}], "clusterIP": "10.9.8.7"}},
                 "test3   LoadBalancer   10.9.8.7   <pending>   8888/tcp   <unknown>\n", id="TestPrintService/test3"),
    pytest.param({"metadata": {"name": "test7"}, "spec": {"type": "ExternalName", "externalName": "my.database.example.com"}},
                 "test7   ExternalName   <none>   my.database.example.com   <none>   <unknown>\n", id="TestPrintService/test7"),
]


@pytest.mark.parametrize("obj,want", SERVICE_NO_HEADERS)
def test_service_rows_without_headers(obj: dict, want: str) -> None:
    assert render(to_table(by_name("services"), [obj], now=NOW), no_headers=True) == want


def test_endpointslice_rows_without_headers_upstream() -> None:
    # printers_test.go TestPrintEndpointSlice, first case
    es = {"metadata": {"name": "abcslice.123", "creationTimestamp": "2026-01-10T12:00:01Z"}, "addressType": "IP",
          "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "endpoints": [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}]}
    assert render(to_table(by_name("endpointslices"), [es], now=NOW), no_headers=True) == "abcslice.123   IP    80    10.1.2.3,2001:db8::1234:5678   0s\n"


def test_table_headers_uppercased_and_priority_columns_only_wide() -> None:
    t = to_table(by_name("services"), [svc("kubernetes")], now=NOW)
    assert render(t) == (
        "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
        "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP   30s\n"
    )
    assert render(t, wide=True) == (
        "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR\n"
        "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP   30s   <none>\n"
    )


def test_table_show_labels_and_label_columns() -> None:
    t = to_table(by_name("services"), [svc("c", "NodePort", ip="127.96.127.76", ports=[{"port": 81, "protocol": "TCP", "nodePort": 31140}]),
                                       svc("kubernetes", labels={"component": "apiserver", "provider": "kubernetes"}),
                                       svc("web", labels={"app": "web"}, ip="127.96.50.60", ports=[{"port": 80, "protocol": "TCP"}])], now=NOW)
    # same layout as `kubectl get svc -L app --show-labels`
    assert render(t, show_labels=True, column_labels=("example.com/app", "app")) == (
        "NAME         TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)        AGE   APP   APP   LABELS\n"
        "c            NodePort    127.96.127.76   <none>        81:31140/TCP   30s               <none>\n"
        "kubernetes   ClusterIP   10.96.0.1       <none>        443/TCP        30s               component=apiserver,provider=kubernetes\n"
        "web          ClusterIP   127.96.50.60    <none>        80/TCP         30s         web   app=web\n"
    )


def test_table_namespace_column_and_kind_prefix() -> None:
    t = to_table(by_name("deployments"), [{"metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 1}}], now=NOW)
    assert render(t, with_namespace=True, with_kind=True, kind="deployment.apps") == (
        "NAMESPACE   NAME                 READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "shop        deployment.apps/web   1/2     0            0           <unknown>\n"
    ).replace("NAME                 READY", "NAME                  READY")


def test_table_without_rows_prints_nothing_even_headers() -> None:
    assert render(to_table(by_name("pods"), [], now=NOW)) == ""


def test_table_printer_skips_repeated_headers_and_keeps_widths() -> None:
    rt = by_name("services")
    out = io.StringIO()
    w = TabWriter(out)
    p = TablePrinter()
    p.print_table(to_table(rt, [svc("a-long-service-name")], now=NOW), w)
    w.flush()
    p.print_table(to_table(rt, [svc("b")], no_headers=True, now=NOW), w)  # watch event without columns
    w.flush()
    p.print_table(to_table(rt, [svc("c")], now=NOW), w)  # same columns again: no header either
    w.flush()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("NAME                  TYPE")
    assert lines[1].startswith("a-long-service-name   ClusterIP")
    assert lines[2].startswith("b                     ClusterIP")
    assert lines[3].startswith("c                     ClusterIP")
    assert len(lines) == 4


def test_table_cells_cut_at_newline_and_typed_cells() -> None:
    table = {
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "priority": 0}, {"name": "N", "type": "integer", "format": "", "priority": 0},
                              {"name": "Msg", "type": "string", "format": "", "priority": 0}],
        "rows": [{"cells": ["x", 3, "line1\nline2"], "object": {"metadata": {"name": "x"}}}, {"cells": ["y", None, True]}],
    }
    assert render(table) == "NAME   N     MSG\nx      3     line1...\ny            true\n"


# --------------------------------------------------------------------------------------------
# names, lists, YAML/JSON


def test_qualified_names() -> None:
    assert qualified_name(by_name("services"), "web") == "service/web"
    assert qualified_name(by_name("deployments"), "web") == "deployment.apps/web"
    assert qualified_name(by_name("endpointslices"), "web-x") == "endpointslice.discovery.k8s.io/web-x"
    assert name_of({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}}) == "replicaset.apps/r"
    assert name_of({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}) == "widget.example.com/w"


def test_list_fills_kind_and_api_version() -> None:
    lst = to_list([{"metadata": {"name": "a"}}, {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "b"}}], [by_name("services"), None])
    assert lst["kind"] == "List" and lst["apiVersion"] == "v1" and lst["metadata"] == {"resourceVersion": ""}
    assert lst["items"][0]["kind"] == "Service" and lst["items"][0]["apiVersion"] == "v1"


def test_yaml_and_json_dumps_round_trip_through_load_manifests() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "annotations": {"a": "<x>&"}},
           "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"app": "web"}, "clusterIP": "None"}}
    y = dump_objects(obj, "yaml")
    assert y.startswith("apiVersion: v1\nkind: Service\nmetadata:\n")
    assert "  ports:\n  - port: 80\n    targetPort: http\n" in y
    assert load_manifests(y) == [obj]
    j = dump_objects(obj, "json")
    assert j.startswith('{\n    "apiVersion": "v1",\n') and j.endswith("}\n")
    assert "\\u003cx\\u003e\\u0026" in j
    assert load_manifests(j) == [obj]
    lst = to_list([obj, obj])
    assert load_manifests(dump_objects(lst, "yaml")) == [obj, obj]
    with pytest.raises(ValueError):
        dump_objects(obj, "toml")


# --------------------------------------------------------------------------------------------
# errors (kubectl cmdutil.CheckErr)


def test_error_from_server_formats() -> None:
    assert format_error(NotFound.of("services", "x")) == 'Error from server (NotFound): services "x" not found\n'
    assert format_error(AlreadyExists.of("services", "x")) == 'Error from server (AlreadyExists): services "x" already exists\n'
    assert format_error(Forbidden('namespaces "default" is forbidden: this namespace may not be deleted')) == (
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted\n'
    )
    assert format_error(BadRequest("bad")) == "Error from server (BadRequest): bad\n"
    assert format_error(Unauthorized("Unauthorized")) == "error: You must be logged in to the server (Unauthorized)\n"
    assert format_error(SvcnetError("boom")) == "error: boom\n"
    assert format_error(SvcnetError("error: already prefixed")) == "error: already prefixed\n"


def test_error_connection_refused_like_kubectl() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 6443)")
        except ConnectionRefusedError as e:
            raise ServiceUnavailable("cannot reach the API server at https://127.0.0.1:6443: Cannot connect to host") from e
    except ServiceUnavailable as err:
        assert format_error(err) == "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"


def test_invalid_single_and_multiple_causes() -> None:
    one = Invalid("Service", "web", [FieldError("Invalid", "spec.ports[0].port", 0, "must be between 1 and 65535, inclusive")])
    assert format_error(one) == 'The Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n'
    two = Invalid("Service", "bad", [FieldError("Required", "spec.ports[0].name"), FieldError("Invalid", "spec.ports[0].port", 0, "must be between 1 and 65535, inclusive")])
    assert format_error(two) == (
        'The Service "bad" is invalid: \n'
        "* spec.ports[0].name: Required value\n"
        "* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n"
    )
    grouped = Invalid("EndpointSlice", "s", [FieldError("Required", "endpoints")], group="discovery.k8s.io")
    assert format_error(grouped).startswith('The EndpointSlice "s" is invalid: endpoints: Required value')


def test_several_errors_one_per_line() -> None:
    inv = Invalid("Service", "bad", [FieldError("Required", "spec.ports")])
    assert format_errors([inv, NotFound.of("services", "x"), SvcnetError("local problem")]) == (
        'Error from server (Invalid): Service "bad" is invalid: spec.ports: Required value\n'
        'Error from server (NotFound): services "x" not found\n'
        "local problem\n"
    )
    assert format_errors([]) == ""
    assert format_errors([inv]) == format_error(inv)
