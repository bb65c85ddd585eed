"""Runs the "validation" layer of tests/vectors/service_api_7.json (service-api.md §7).

Each step goes through what the API server does before storing, minus allocation:
v1 defaulting, clusterIP normalisation, then create or update validation against the previous
version of the same object. The file's ``_comment`` documents the format.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults
from svcnet.api.errors import aggregate_message
from svcnet.api.service import normalize_cluster_ips
from svcnet.api.validation import validate

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "service_api_7.json").read_text())
CASES = [pytest.param(c, id=c["id"]) for c in VECTORS["cases"] if c["layer"] == "validation"]

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ABSENT = object()


def get_path(obj: Any, path: str) -> Any:
    for name, idx in _TOKEN.findall(path):
        if name:
            if not isinstance(obj, dict) or name not in obj:
                return _ABSENT
            obj = obj[name]
        else:
            i = int(idx)
            if not isinstance(obj, list) or i >= len(obj):
                return _ABSENT
            obj = obj[i]
    return obj


def _prepare(manifest: dict) -> dict:
    obj = apply_defaults(copy.deepcopy(manifest))
    obj.setdefault("metadata", {}).setdefault("namespace", VECTORS["cluster"]["namespace"])
    if obj.get("kind") == "Service":
        normalize_cluster_ips(obj)
    return obj


def _check(expect: Any, errs: list, obj: dict, case_id: str) -> None:
    message = aggregate_message(errs) if errs else None
    if expect == "ok" or (isinstance(expect, dict) and expect.get("ok")):
        assert message is None, f"{case_id}: unexpected errors: {message}"
        if isinstance(expect, dict):
            for path, want in expect.get("fields", {}).items():
                assert get_path(obj, path) == want, f"{case_id}: {path}"
            for path in expect.get("absent", []):
                assert get_path(obj, path) in (_ABSENT, None), f"{case_id}: {path} should be absent"
            for a, b in expect.get("same", []):
                assert get_path(obj, a) == get_path(obj, b)
            for path, n in expect.get("lengths", {}).items():
                assert len(get_path(obj, path)) == n
        return
    assert message is not None, f"{case_id}: expected an error"
    if isinstance(expect, dict) and "prefix" in expect:
        assert message.startswith(expect["prefix"]), message
    else:
        assert message == expect


@pytest.mark.parametrize("case", CASES)
def test_vector_validation_layer(case: dict) -> None:
    stored: dict[tuple[str, str], dict] = {}
    for step, expect in zip(case["objects"], case["expect"], strict=True):
        obj = _prepare(step["object"])
        k = (obj["kind"], obj["metadata"]["name"])
        if step["op"] == "create":
            errs = validate(obj)
        else:
            errs = validate(obj, stored[k])
        _check(expect, errs, obj, case["id"])
        if not errs:
            stored[k] = obj


def test_vectors_file_covers_every_section_7_vector() -> None:
    numbers = {c["id"].split()[0] for c in VECTORS["cases"]}
    assert numbers == {f"7.{i}" for i in range(1, 27)}


def test_vectors_file_is_well_formed() -> None:
    ids = [c["id"] for c in VECTORS["cases"]]
    assert len(ids) == len(set(ids))
    for c in VECTORS["cases"]:
        assert c["layer"] in ("validation", "registry", "controller")
        assert len(c["objects"]) == len(c["expect"]), c["id"]
        for step in c["objects"]:
            assert step["op"] in ("create", "update")
            assert step["object"]["apiVersion"] and step["object"]["kind"]
