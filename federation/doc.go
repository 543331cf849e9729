// Package federation is passerelle's ActivityPub side, in rooms:
//
//   - federation (this package): the local actors' documents, WebFinger,
//     NodeInfo and host-meta (actors.go); the inbox (inbox.go), its group
//     commit (groupcommit.go) and the processing of what it stored
//     (process.go); following, backfilling and refetching sources
//     (follow.go, backfill.go, participants_refetch.go); remote actors and
//     their keys (remote.go); signed fetches (fetch.go).
//   - federation/signing: HTTP Signatures and RSA keys, needing nothing of
//     ours.
//   - federation/outbox: minted ids, durable signed delivery with retries
//     and per-host slots, and the mail participants' actors (Join, Leave,
//     erasure).
//   - federation/policy: whom passerelle federates with (allow/block).
//
// Requests to other servers go through internal/outbound's client, which
// refuses private addresses at dial time. Event objects are turned into
// bridges.Event by the dialects (bridges/…), reached through
// bridges.Dialect; storage is reached through store.
package federation
