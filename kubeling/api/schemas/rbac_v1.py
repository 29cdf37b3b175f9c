"""OpenAPI definitions of rbac.authorization.k8s.io/v1: Role, ClusterRole,
RoleBinding, ClusterRoleBinding and the PolicyRule, Subject, RoleRef and
AggregationRule types they are made of.

Field names, types, required fields and list types follow upstream v1.32; the
descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.rbac.v1."
GROUP = "rbac.authorization.k8s.io"


def _gvk(kind: str) -> tuple[str, str, str]:
    return (GROUP, "v1", kind)


def _rules(scope: str) -> dsl.Schema:
    return dsl.array(
        dsl.ref(P + "PolicyRule"), f"What the {scope} allows; permissions only add up.", list_type="atomic"
    )


def _subjects() -> dsl.Schema:
    return dsl.array(dsl.ref(P + "Subject"), "Who is granted the role.", list_type="atomic")


def _role_ref(extra: str) -> dsl.Schema:
    return dsl.ref(
        P + "RoleRef", f"The role being granted{extra}. Immutable: delete and recreate to change it."
    )


DEFINITIONS: dict[str, dsl.Schema] = {
    P + "PolicyRule": dsl.obj(
        "One grant of permission: verbs on resources (or on non-resource URLs).",
        {
            "verbs": dsl.string_array(
                "The allowed verbs, such as get, list, watch, create, update, patch, delete; * means all.",
                list_type="atomic",
            ),
            "apiGroups": dsl.string_array(
                'The API groups of the resources; "" is the core group and * means all.', list_type="atomic"
            ),
            "resources": dsl.string_array(
                'The resources, with subresources as "pods/log"; * means all.', list_type="atomic"
            ),
            "resourceNames": dsl.string_array(
                "Object names the rule is limited to; empty means any name.", list_type="atomic"
            ),
            "nonResourceURLs": dsl.string_array(
                "URL paths outside the resource API (e.g. /healthz), with a trailing * as a prefix match. "
                "Only in ClusterRoles bound by ClusterRoleBindings, and never together with resources.",
                list_type="atomic",
            ),
        },
        required=["verbs"],
    ),
    P + "Subject": dsl.obj(
        "A user, group or service account a binding grants a role to.",
        {
            "kind": dsl.string("User, Group or ServiceAccount."),
            "apiGroup": dsl.string(
                '"" for ServiceAccount subjects, rbac.authorization.k8s.io for User and Group subjects.'
            ),
            "name": dsl.string("The name of the subject."),
            "namespace": dsl.string(
                "The namespace of a ServiceAccount subject; must be empty for User and Group."
            ),
        },
        required=["kind", "name"],
        map_type="atomic",
    ),
    P + "RoleRef": dsl.obj(
        "Names the role a binding grants.",
        {
            "apiGroup": dsl.string("The API group of the role: rbac.authorization.k8s.io."),
            "kind": dsl.string("Role or ClusterRole."),
            "name": dsl.string("The name of the role."),
        },
        required=["apiGroup", "kind", "name"],
        map_type="atomic",
    ),
    P + "AggregationRule": dsl.obj(
        "Builds a ClusterRole's rules from other ClusterRoles.",
        {
            "clusterRoleSelectors": dsl.array(
                dsl.meta("LabelSelector"),
                "ClusterRoles matching any of these selectors contribute their rules; the controller owns "
                "the aggregated role's rules field.",
                list_type="atomic",
            ),
        },
    ),
    P + "Role": dsl.obj(
        "A namespaced set of permissions, granted with a RoleBinding.",
        {**dsl.kind_properties(), "rules": _rules("Role")},
        gvk=_gvk("Role"),
    ),
    P + "RoleList": dsl.list_kind(P + "Role", "A list of Roles.", _gvk("RoleList")),
    P + "ClusterRole": dsl.obj(
        "A cluster-wide set of permissions, granted in one namespace by a RoleBinding or everywhere by a "
        "ClusterRoleBinding.",
        {
            **dsl.kind_properties(),
            "rules": _rules("ClusterRole"),
            "aggregationRule": dsl.ref(
                P + "AggregationRule",
                "When set, rules is filled in by the controller from the ClusterRoles it selects.",
            ),
        },
        gvk=_gvk("ClusterRole"),
    ),
    P + "ClusterRoleList": dsl.list_kind(
        P + "ClusterRole", "A list of ClusterRoles.", _gvk("ClusterRoleList")
    ),
    P + "RoleBinding": dsl.obj(
        "Grants a Role, or a ClusterRole, to subjects within the binding's namespace.",
        {
            **dsl.kind_properties(),
            "subjects": _subjects(),
            "roleRef": _role_ref(": a Role in this namespace or a ClusterRole"),
        },
        required=["roleRef"],
        gvk=_gvk("RoleBinding"),
    ),
    P + "RoleBindingList": dsl.list_kind(
        P + "RoleBinding", "A list of RoleBindings.", _gvk("RoleBindingList")
    ),
    P + "ClusterRoleBinding": dsl.obj(
        "Grants a ClusterRole to subjects across the whole cluster.",
        {
            **dsl.kind_properties(),
            "subjects": _subjects(),
            "roleRef": _role_ref(", a ClusterRole"),
        },
        required=["roleRef"],
        gvk=_gvk("ClusterRoleBinding"),
    ),
    P + "ClusterRoleBindingList": dsl.list_kind(
        P + "ClusterRoleBinding", "A list of ClusterRoleBindings.", _gvk("ClusterRoleBindingList")
    ),
}
