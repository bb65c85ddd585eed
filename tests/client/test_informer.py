"""InformerCore (the informer's pure state machine): relists and watch frames become
notifications with nothing applied twice, and the namespace index stays in step with the cache."""

from __future__ import annotations

from svcnet.api.errors import Expired, ServiceUnavailable
from svcnet.client.informer import InformerCore


def obj(ns: str, name: str, rv: int) -> dict:
    return {"metadata": {"namespace": ns, "name": name, "resourceVersion": str(rv)}}


def lst(rv: int, *items: dict) -> dict:
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(items)}


def by_ns(core: InformerCore) -> dict[str, list[str]]:
    return {ns: sorted(names) for ns, names in core.by_namespace.items()}


def test_informer_core_list_then_watch_then_relist():
    core = InformerCore()
    assert core.next_request() == ("list", None)
    notes = core.list_result(lst(5, obj("a", "x", 3), obj("b", "y", 4)))
    assert [(n.type, n.new["metadata"]["name"]) for n in notes] == [("add", "x"), ("add", "y")]
    assert core.next_request() == ("watch", "5")
    assert by_ns(core) == {"a": ["x"], "b": ["y"]}

    assert [n.type for n in core.watch_event({"type": "ADDED", "object": obj("a", "z", 6)})] == ["add"]
    assert [n.type for n in core.watch_event({"type": "MODIFIED", "object": obj("a", "x", 7)})] == ["update"]
    # a replayed (not newer) frame is dropped: nothing is applied twice
    assert core.watch_event({"type": "MODIFIED", "object": obj("a", "x", 7)}) == []
    assert core.watch_event({"type": "ADDED", "object": obj("a", "z", 6)}) == []
    assert [n.type for n in core.watch_event({"type": "DELETED", "object": obj("b", "y", 8)})] == ["delete"]
    assert core.watch_event({"type": "DELETED", "object": obj("b", "y", 8)}) == []
    assert by_ns(core) == {"a": ["x", "z"]}  # an emptied namespace leaves the index
    assert core.watch_event({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}) == []
    assert core.next_request() == ("watch", "9")

    # a transport error resumes the watch; Expired forces a relist
    core.watch_ended(ServiceUnavailable("gone"))
    assert core.next_request() == ("watch", "9")
    core.watch_ended(Expired("too old"))
    assert core.next_request() == ("list", None)

    # the relist turns into the difference: x unchanged (nothing), z updated, w added, y stays gone
    notes = core.list_result(lst(12, obj("a", "x", 7), obj("a", "z", 11), obj("c", "w", 10)))
    assert sorted((n.type, (n.new or n.old)["metadata"]["name"]) for n in notes) == [("add", "w"), ("update", "z")]
    assert by_ns(core) == {"a": ["x", "z"], "c": ["w"]}
    notes = core.list_result(lst(13, obj("c", "w", 10)))
    assert sorted((n.type, n.old["metadata"]["name"]) for n in notes) == [("delete", "x"), ("delete", "z")]
    assert by_ns(core) == {"c": ["w"]}
    assert core.cache == {("c", "w"): obj("c", "w", 10)}
