// Package dedup holds claims that every replica of the gateway sees: one
// coordination.k8s.io/v1 Lease per key in the gateway's namespace, so that N
// replicas still send one notification per throttle key and per event id
// within an interval. The gateway keeps no state of its own: the Lease is the
// marker, and the API server's optimistic concurrency decides who delivers.
//
// # Claiming a key
//
//   - Create the key's Lease (create-if-absent). The replica whose create
//     succeeds holds the key and delivers.
//   - AlreadyExists: read it. Unexpired (renewTime + leaseDurationSeconds is
//     still ahead), the key is held elsewhere and the event is suppressed.
//     Expired, the replica takes it over with an update guarded by the
//     resourceVersion it read; of several replicas trying at once, one wins,
//     the others get a Conflict and suppress.
//   - Anything else (the API server unreachable, refusing, too slow): no
//     decision. The caller delivers anyway (at least once beats never) and the
//     claim is counted as unavailable.
//
// A replica that fails to deliver releases its claim (delete, guarded by the
// resourceVersion it wrote), so the next event or the caller's retry may try.
//
// # Names and cleanup
//
// A Lease is named orkestra-notify-<hash>, the hash (SHA-256, 128 bits
// shown) of the Katalog name and the key, so names are valid whatever the
// key holds and reveal nothing of it. Names are therefore not known in
// advance: RBAC cannot restrict create or get/update/delete to resourceNames.
//
// Without list permission, a replica removes (on its maintenance tick,
// Sweep) the expired Leases it knows: those it created or took over, and
// those it found held by another replica. A Lease whose holder stopped before
// it expired is removed by whichever replica meets the key next (it takes it
// over, then sweeps it); the Leases carry the gateway's labels, so an
// uninstall removes the rest with one label selector.
package dedup
