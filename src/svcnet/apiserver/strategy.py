"""Per-resource hooks the registry calls while serving a write (upstream: rest.RESTCreateStrategy
and friends, plus the BeginCreate/BeginUpdate hooks of a registry Store).

Theory of operation
-------------------
For every write the :class:`~svcnet.apiserver.registry.Registry` runs, in this order:

CREATE  default -> generateName -> ``prepare_for_create`` -> ``begin_create`` (allocation; may
        raise an APIError) -> ``validate`` (field errors roll the allocation back) -> store
        create -> ``txn.commit()`` (``txn.revert()`` if the store write fails).
UPDATE  default -> ``prepare_for_update`` (e.g. keep status) -> ``begin_update`` ->
        ``validate_update`` -> store update -> commit/revert.
STATUS  ``prepare_for_status_update`` (keep spec) -> ``validate_status_update`` -> store update.
DELETE  store delete -> ``after_delete`` (release what the object held).

A :class:`Txn` is what ``begin_*`` returns: ``commit()`` makes the allocation final and releases
what the old object held; ``revert()`` gives back what was taken. Dry-run requests get a Txn
that holds nothing.

Strategies do no I/O; the registry owns the store.
"""

from __future__ import annotations

from svcnet.api.errors import FieldError
from svcnet.api.resources import ResourceType

__all__ = ["NOOP_TXN", "Strategy", "Txn"]


class Txn:
    """An allocation in progress. The base class holds nothing."""

    def commit(self) -> None:
        """Make the allocation final (and release what the previous object held)."""

    def revert(self) -> None:
        """Give back everything this transaction took."""


NOOP_TXN = Txn()


class Strategy:
    """Default hooks: status is owned by the status subresource, spec by the main resource.

    ``validate``/``validate_update`` receive the whole object, metadata included, and return
    field errors (never raise). The registry validates ObjectMeta itself only when the strategy
    does not (``validates_metadata = False``).
    """

    #: resources whose main endpoint ignores status and whose /status ignores everything else
    has_status_subresource: bool = True
    #: resources that count spec changes in metadata.generation
    tracks_generation: bool = False
    #: PUT on a missing object creates it (upstream AllowCreateOnUpdate)
    allow_create_on_update: bool = False

    def __init__(self, resource: ResourceType):
        self.resource = resource

    # -- create ------------------------------------------------------------------------------

    def prepare_for_create(self, obj: dict) -> None:
        if self.has_status_subresource:
            obj.pop("status", None)

    def begin_create(self, obj: dict, *, dry_run: bool) -> Txn:
        return NOOP_TXN

    def validate(self, obj: dict) -> list[FieldError]:
        return []

    # -- update ------------------------------------------------------------------------------

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        if self.has_status_subresource:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)

    def begin_update(self, obj: dict, old: dict, *, dry_run: bool) -> Txn:
        return NOOP_TXN

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return self.validate(obj)

    # -- status ------------------------------------------------------------------------------

    def prepare_for_status_update(self, obj: dict, old: dict) -> None:
        """Only status changes through /status: everything else comes from the old object."""
        status = obj.get("status")
        obj.clear()
        obj.update({k: v for k, v in old.items() if k != "status"})
        if status is not None:
            obj["status"] = status

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        return []

    # -- delete ------------------------------------------------------------------------------

    def after_delete(self, obj: dict) -> None:
        """Release whatever the deleted object held (allocated IPs, ports)."""

    def repair(self, objects: list[dict]) -> None:
        """Rebuild in-memory state (allocation bitmaps) from what the store holds at start-up."""
