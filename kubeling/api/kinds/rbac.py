"""rbac.authorization.k8s.io/v1: Roles, ClusterRoles and their bindings.

Defaults and validation follow upstream's ``pkg/apis/rbac/v1/defaults.go`` and
``pkg/apis/rbac/validation``. RBAC object names are path segments, not DNS
subdomains (``system:controller:foo`` is a valid ClusterRole name): each
strategy's :attr:`name_fn` says so, for the store's metadata validation.
A binding's roleRef cannot change once created.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig
Column = registry.Column

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ["Group", "ServiceAccount", "User"]


def _path_segment_errs(value: Any, path: str) -> FieldErrors:
    return validation.validate_str_with(value, path, validation.path_segment_name)


def validate_policy_rule(rule: Any, path: str, *, namespaced: bool) -> FieldErrors:
    if not isinstance(rule, dict):
        return [errors.type_invalid(path, rule, "must be an object")]
    errs: FieldErrors = []
    if not rule.get("verbs"):
        errs.append(errors.required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            errs.append(errors.invalid_value(f"{path}.nonResourceURLs", urls,
                                             "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(errors.invalid_value(f"{path}.nonResourceURLs", urls,
                                             "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.get("apiGroups"):
        errs.append(errors.required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        errs.append(errors.required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


class _RBACStrategy(registry.Strategy):
    #: How metadata.name is checked (upstream's ValidateRBACName).
    name_fn = staticmethod(validation.path_segment_name)


class RoleStrategy(_RBACStrategy):
    namespaced = True

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for i, rule in enumerate(obj.get("rules") or []):
            errs += validate_policy_rule(rule, f"rules[{i}]", namespaced=self.namespaced)
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Created At", lambda o: dig(o, "metadata", "creationTimestamp") or "", type="date",
                   description="CreationTimestamp is a timestamp representing the server time when this object "
                               "was created."),
        ]


class ClusterRoleStrategy(RoleStrategy):
    namespaced = False

    def validate(self, obj: Obj) -> FieldErrors:
        errs = super().validate(obj)
        agg = obj.get("aggregationRule")
        if agg is not None:
            selectors = (agg or {}).get("clusterRoleSelectors") if isinstance(agg, dict) else None
            if not selectors:
                errs.append(errors.required("aggregationRule.clusterRoleSelectors",
                                            "at least one clusterRoleSelector required if aggregationRule is "
                                            "non-nil"))
            for i, sel in enumerate(selectors or []):
                errs += validation.validate_label_selector(sel, f"aggregationRule.clusterRoleSelectors[{i}]")
        return errs


def default_binding(obj: Obj) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""


def validate_subject(subject: Any, path: str, *, namespaced: bool) -> FieldErrors:
    if not isinstance(subject, dict):
        return [errors.type_invalid(path, subject, "must be an object")]
    errs: FieldErrors = []
    name, kind, group = subject.get("name"), subject.get("kind"), subject.get("apiGroup") or ""
    if not name:
        errs.append(errors.required(f"{path}.name", ""))
    if kind == "ServiceAccount":
        if name:
            errs += [errors.invalid_value(f"{path}.name", name, m) for m in validation.dns1123_subdomain(str(name))]
        if group:
            errs.append(errors.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(errors.required(f"{path}.namespace", ""))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(errors.not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        errs.append(errors.not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return errs


class RoleBindingStrategy(_RBACStrategy):
    namespaced = True
    role_kinds: tuple[str, ...] = ("ClusterRole", "Role")

    def default(self, obj: Obj) -> None:
        default_binding(obj)

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        ref = obj.get("roleRef")
        ref = ref if isinstance(ref, dict) else {}
        if ref.get("apiGroup") != GROUP:
            errs.append(errors.not_supported("roleRef.apiGroup", ref.get("apiGroup"), [GROUP]))
        if ref.get("kind") not in self.role_kinds:
            errs.append(errors.not_supported("roleRef.kind", ref.get("kind"), list(self.role_kinds)))
        if not ref.get("name"):
            errs.append(errors.required("roleRef.name", ""))
        else:
            errs += _path_segment_errs(ref["name"], "roleRef.name")
        for i, subject in enumerate(obj.get("subjects") or []):
            errs += validate_subject(subject, f"subjects[{i}]", namespaced=self.namespaced)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        if new.get("roleRef") != old.get("roleRef"):
            errs.append(errors.invalid_value("roleRef", new.get("roleRef"), "cannot change roleRef"))
        return errs

    def columns(self) -> list[Column]:
        def subjects(kind: str, *, with_ns: bool = False) -> Any:
            def cell(o: Obj) -> str:
                out = []
                for s in o.get("subjects") or []:
                    if isinstance(s, dict) and s.get("kind") == kind:
                        out.append(f"{s.get('namespace', '')}/{s.get('name', '')}" if with_ns else s.get("name", ""))
                return ", ".join(out)
            return cell

        return [
            registry.NAME_COLUMN,
            Column("Role", lambda o: f"{dig(o, 'roleRef', 'kind') or ''}/{dig(o, 'roleRef', 'name') or ''}",
                   description="RoleRef can reference a Role in the current namespace or a ClusterRole in the "
                               "global namespace."),
            registry.AGE_COLUMN,
            Column("Users", subjects("User"), priority=1, description="Users in the roleBinding"),
            Column("Groups", subjects("Group"), priority=1, description="Groups in the roleBinding"),
            Column("ServiceAccounts", subjects("ServiceAccount", with_ns=True), priority=1,
                   description="ServiceAccounts in the roleBinding"),
        ]


class ClusterRoleBindingStrategy(RoleBindingStrategy):
    namespaced = False
    role_kinds: tuple[str, ...] = ("ClusterRole",)


def _schema(kind: str) -> str:
    return f"io.k8s.api.rbac.v1.{kind}"


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings", False, ClusterRoleBindingStrategy(),
                      schema=_schema("ClusterRoleBinding")),
    registry.Resource(GROUP, "v1", "ClusterRole", "clusterroles", False, ClusterRoleStrategy(),
                      schema=_schema("ClusterRole")),
    registry.Resource(GROUP, "v1", "RoleBinding", "rolebindings", True, RoleBindingStrategy(),
                      schema=_schema("RoleBinding")),
    registry.Resource(GROUP, "v1", "Role", "roles", True, RoleStrategy(), schema=_schema("Role")),
]
