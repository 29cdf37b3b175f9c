"""OpenAPI definitions of coordination.k8s.io/v1: Lease, the lock and
heartbeat record used by leader election and node heartbeats.

Field names, types and required fields follow upstream v1.32; the descriptions
are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.coordination.v1."
GROUP = "coordination.k8s.io"

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "Lease": dsl.obj(
        "A named, time-limited claim held by one party at a time.",
        dsl.kind_properties(dsl.ref(P + "LeaseSpec", "Who holds the lease and until when.")),
        gvk=(GROUP, "v1", "Lease"),
    ),
    P + "LeaseList": dsl.list_kind(P + "Lease", "A list of Leases.", (GROUP, "v1", "LeaseList")),
    P + "LeaseSpec": dsl.obj(
        "The holder and timing of a Lease.",
        {
            "holderIdentity": dsl.string("Who currently holds the lease."),
            "leaseDurationSeconds": dsl.integer(
                "How long, counted from renewTime, other candidates must wait before taking the lease over."
            ),
            "acquireTime": dsl.micro_time("When the current holder took the lease."),
            "renewTime": dsl.micro_time("When the current holder last renewed the lease."),
            "leaseTransitions": dsl.integer("How many times the lease has changed hands."),
            "strategy": dsl.string(
                "With coordinated leader election: how the holder is chosen among candidates "
                "(OldestEmulationVersion). Needs the CoordinatedLeaderElection feature."
            ),
            "preferredHolder": dsl.string(
                "With coordinated leader election: the candidate the current holder should hand over to. "
                "Needs the CoordinatedLeaderElection feature."
            ),
        },
    ),
}
