// Package federation is passerelle's ActivityPub plumbing: the local actors
// (the instance actor and each email participant's pseudonymous Person)
// with their keys, WebFinger, NodeInfo and host-meta; HTTP Signatures on
// every outgoing request and every inbox POST; the inbox, whose work runs
// as durable jobs; signed, retried delivery of outgoing activities; the
// domain allow/block policy. Requests to other servers go through
// internal/outbound's client, which refuses private addresses at dial time.
//
// Event objects are turned into bridges.Event by the dialects (bridges/…),
// reached through bridges.Dialect; storage is reached through Store.
package federation
