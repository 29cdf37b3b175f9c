"""The resource registry: which kinds exist and how each behaves.

A :class:`Resource` names one served (group, version, plural) and carries its
:class:`Strategy`, the per-kind hooks that the API server's generic store runs
in a fixed order (kube's registry/strategy pattern):

    create:  default -> prepare_for_create -> validate -> (admission) -> store
    update:  default -> prepare_for_update -> validate_update -> store
    status:  prepare_for_status_update -> validate_status_update -> store

Defaulting is idempotent and never fails; validation returns every field error
with its path. Strategies are pure functions of the objects: anything that
needs cluster state (IP allocation, namespace checks) lives in the API server.
Objects are plain JSON dicts; hooks mutate the dict they are given, which the
caller owns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kubeling.api import errors
from kubeling.lib import timeutil

Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of ``kubectl get`` output (a Table column definition)."""

    name: str
    cell: Callable[[Obj], Any]
    type: str = "string"  # string | integer | number | boolean | date
    format: str = ""  # "name" for the NAME column, "date" etc.
    description: str = ""
    priority: int = 0  # 1 = only with -o wide


def age_cell(obj: Obj) -> str:
    """The AGE column's cell: ``5m``, computed when the table is served, as upstream does."""
    return timeutil.age(obj.get("metadata", {}).get("creationTimestamp", ""))


NAME_COLUMN = Column(
    "Name",
    lambda o: o.get("metadata", {}).get("name", ""),
    format="name",
    description="Name must be unique within a namespace.",
)
AGE_COLUMN = Column(
    "Age",
    age_cell,
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
    """Where the ``scale`` subresource reads and writes replicas."""

    spec_replicas: tuple[str, ...] = ("spec", "replicas")
    status_replicas: tuple[str, ...] = ("status", "replicas")
    # Returns the label selector string for Scale.status.selector.
    selector: Callable[[Obj], str] | None = None


class Strategy:
    """Default behaviour shared by most kinds; subclasses override what differs."""

    #: Whether the kind has a spec/status split and a ``status`` subresource.
    has_status: bool = False
    #: Whether metadata.generation is maintained (bumped on spec changes).
    tracks_generation: bool = False
    #: How metadata.name is checked (messages, empty if valid); most kinds use DNS-1123 subdomains.
    name_fn: Callable[[str], list[str]] | None = None

    def default(self, obj: Obj) -> None:
        """Fill defaults in place. Idempotent; never fails."""

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset what a client may not set on create (e.g. status for most kinds)."""
        if self.has_status and self.reset_status_on_create:
            obj.pop("status", None)
        if self.tracks_generation:
            obj.setdefault("metadata", {})["generation"] = 1

    #: Whether status sent on create is dropped (pods keep none; nodes keep theirs).
    reset_status_on_create: bool = True

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep status from the stored object on a main-resource update; bump generation."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if self.tracks_generation:
            gen = old.get("metadata", {}).get("generation", 1)
            if self.spec_of(new) != self.spec_of(old):
                gen += 1
            new.setdefault("metadata", {})["generation"] = gen

    def spec_of(self, obj: Obj) -> Any:
        """What counts as 'spec' for generation tracking."""
        return obj.get("spec")

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        """A status update changes status (and metadata, as upstream allows);
        spec and every other top-level field come from the stored object."""
        status = new.get("status")
        md = new.get("metadata")
        new.clear()
        new.update({k: v for k, v in old.items() if k not in ("status", "metadata")})
        new["metadata"] = md if isinstance(md, dict) else old.get("metadata", {})
        if status is not None:
            new["status"] = status

    def prepare_for_subresource(self, subresource: str, new: Obj, old: Obj) -> None:
        """Updates through other subresources (pods/binding, namespaces/finalize)."""

    def validate_subresource(self, subresource: str, new: Obj, old: Obj) -> list[errors.FieldError]:
        return []

    def validate(self, obj: Obj) -> list[errors.FieldError]:
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[errors.FieldError]:
        return self.validate(new)

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.FieldError]:
        return []

    def columns(self) -> list[Column]:
        """Table columns for ``kubectl get`` (NAME first, AGE usually last)."""
        return [NAME_COLUMN, AGE_COLUMN]

    def field_values(self, obj: Obj) -> dict[str, str]:
        """Values of the field-selector keys this kind supports, beyond
        ``metadata.name`` / ``metadata.namespace`` which the store adds."""
        return {}


@dataclasses.dataclass(frozen=True)
class Resource:
    """One served resource: ``/apis/<group>/<version>/<plural>``."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    strategy: Strategy
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    #: Subresources beyond ``status`` (which follows ``strategy.has_status``):
    #: e.g. ("scale",), ("binding", "eviction").
    subresources: tuple[str, ...] = ()
    scale: ScaleSpec | None = None
    #: The OpenAPI definition name of the kind, e.g. ``io.k8s.api.core.v1.Pod``.
    schema: str = ""
    #: For kinds served in several versions: the version objects are stored in.
    #: ``convert(obj, to_version)`` converts between served versions.
    storage_version: str = ""
    convert: Callable[[Obj, str], Obj] | None = None
    #: For kinds stored with another group's objects (events.k8s.io Events are
    #: core Events): that group ("" for core). ``convert`` then receives
    #: "group/version" strings ("core/v1", "events.k8s.io/v1").
    storage_group: str | None = None

    @property
    def needs_conversion(self) -> bool:
        if self.convert is None:
            return False
        if self.storage_group is not None and self.storage_group != self.group:
            return True
        return bool(self.storage_version) and self.storage_version != self.version

    @property
    def storage_group_version(self) -> str:
        """apiVersion of stored objects."""
        group = self.group if self.storage_group is None else self.storage_group
        version = self.storage_version or self.version
        return f"{group}/{version}" if group else version

    def convert_to_storage(self, obj: Obj) -> Obj:
        assert self.convert is not None
        if self.storage_group is not None:
            return self.convert(obj, f"{self.storage_group or 'core'}/{self.storage_version or self.version}")
        return self.convert(obj, self.storage_version)

    def convert_from_storage(self, obj: Obj) -> Obj:
        assert self.convert is not None
        if self.storage_group is not None:
            return self.convert(obj, self.group_version)
        return self.convert(obj, self.version)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_prefix(self) -> str:
        """Key prefix shared by every served version of this resource."""
        group = self.group if self.storage_group is None else self.storage_group
        return f"/registry/{group or 'core'}/{self.plural}/"

    def key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return self.strategy.has_status
