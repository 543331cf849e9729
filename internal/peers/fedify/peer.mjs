// A Mobilizon-, Gancio- or PeerTube-shaped ActivityPub server for
// passerelle's integration tests. Documents follow ../../../../shared/fixtures
// (Mobilizon 5.1.3's behaviour as mobilizon/FORMAT.md describes it, PeerTube
// 7.3's as peertube/FORMAT.md does); every HTTP signature is made and
// checked by Fedify's own signRequest/verifyRequest.
//
//   node peer.mjs --shape mobilizon|gancio|peertube --host 127.0.0.2 [--port 0]
//
// prints one line "READY <base URL>" on stdout once listening. A control
// API under /_control/ (JSON) drives it: see internal/fedipeertest.

import http from "node:http";
import crypto from "node:crypto";
import {
  generateCryptoKeyPair,
  getDocumentLoader,
  signRequest,
  verifyRequest,
} from "@fedify/fedify";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const shape = args.shape ?? "mobilizon";
const host = args.host ?? "127.0.0.2";
const port = Number(args.port ?? 0);

const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";
// Mobilizon's context, shortened to the terms passerelle reads (FORMAT §1).
const MZ_CONTEXT = [
  "https://www.w3.org/ns/activitystreams",
  "https://w3id.org/security/v1",
  {
    "@language": "und",
    sc: "http://schema.org#",
    ical: "http://www.w3.org/2002/12/cal/ical#",
    mz: "https://joinmobilizon.org/ns#",
    pt: "https://joinpeertube.org/ns#",
    joinMode: { "@id": "mz:joinMode", "@type": "mz:joinModeType" },
    timezone: { "@id": "mz:timezone", "@type": "sc:Text" },
    maximumAttendeeCapacity: "sc:maximumAttendeeCapacity",
    remainingAttendeeCapacity: "sc:remainingAttendeeCapacity",
    participantCount: { "@id": "mz:participantCount", "@type": "sc:Integer" },
    isOnline: { "@id": "mz:isOnline", "@type": "sc:Boolean" },
    location: { "@id": "sc:location", "@type": "sc:Place" },
    address: { "@id": "sc:address", "@type": "sc:PostalAddress" },
    status: { "@id": "ical:status", "@type": "ical:status" },
    uuid: "sc:identifier",
    inLanguage: "sc:inLanguage",
    category: "sc:category",
    participationMessage: { "@id": "mz:participationMessage", "@type": "sc:Text" },
  },
];

const documentLoader = getDocumentLoader({ allowPrivateAddress: true });
let base = ""; // set once listening

// ---------------------------------------------------------------- actors

const actors = new Map(); // name -> {id, type, keyPair, pkcs1, path, inbox, ...}

async function makeActor(name, type, path, extra = {}) {
  const keyPair = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  const pub = crypto.createPublicKey({ key: spki, format: "der", type: "spki" });
  // Mobilizon publishes PKCS#1 ("BEGIN RSA PUBLIC KEY"); Gancio SPKI.
  const pem = shape === "mobilizon"
    ? pub.export({ type: "pkcs1", format: "pem" })
    : pub.export({ type: "spki", format: "pem" });
  const a = { name, type, path, keyPair, pem, manuallyApprovesFollowers: false, ...extra };
  actors.set(name, a);
  return a;
}

const id = (a) => base + a.path;
const keyId = (a) => new URL(id(a) + "#main-key");

function actorDocument(a) {
  const aid = id(a);
  if (shape === "peertube") return peertubeActor(a);
  if (shape === "gancio") {
    return {
      "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
      id: aid, type: a.type, name: a.name, preferredUsername: a.name,
      inbox: aid + "/inbox", outbox: aid + "/outbox", followers: aid + "/followers",
      endpoints: { sharedInbox: base + "/federation/u/" + a.name + "/inbox" },
      discoverable: true,
      publicKey: { id: aid + "#main-key", owner: aid, publicKeyPem: a.pem },
    };
  }
  const isGroup = a.type === "Group";
  const coll = (n) => (isGroup ? aid + "/" + n : null);
  const doc = {
    "@context": MZ_CONTEXT,
    id: aid, url: aid, type: a.type, preferredUsername: a.name, name: a.display ?? a.name, summary: "",
    inbox: a.type === "Application" ? base + "/inbox" : aid + "/inbox",
    outbox: aid + "/outbox", followers: aid + "/followers", following: aid + "/following",
    members: coll("members"), resources: coll("resources"), todos: coll("todos"),
    posts: coll("posts"), events: coll("events"), discussions: coll("discussions"),
    endpoints: {
      sharedInbox: base + "/inbox", members: coll("members"), resources: coll("resources"),
      todos: coll("todos"), posts: coll("posts"), events: coll("events"), discussions: coll("discussions"),
    },
    discoverable: true, openness: isGroup ? "invite_only" : "moderated",
    manuallyApprovesFollowers: a.manuallyApprovesFollowers,
    publicKey: { id: aid + "#main-key", owner: aid, publicKeyPem: a.pem },
  };
  if (isGroup) doc.memberCount = 2;
  return doc;
}

// ---------------------------------------------------------------- state

const events = new Map(); // uuid -> event record
const followers = new Map(); // target name -> Map(follower actor url -> {followId, state, inbox})
const joins = new Map(); // join id -> {join, state, event uuid}
const received = []; // {path, verified, status, activity}
const fetched = []; // GETs of events: {path, signed, ifNoneMatch, ifModifiedSince, status}

// ---------------------------------------------------------------- HTTP helpers

function send(res, status, body, type = "application/activity+json", headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": type, ...headers });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function toRequest(req, body) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return new Request(new URL(req.url, `http://${req.headers.host}`), {
    method: req.method, headers, body: body && body.length ? body : undefined,
  });
}

async function fetchActorDoc(url) {
  // Mobilizon fetches actors for key checks unsigned; so does this peer.
  const { document } = await documentLoader(url);
  return document;
}

// deliver signs (with Fedify) and POSTs an activity from actor a.
async function deliver(a, inbox, activity, { tamper } = {}) {
  const body = JSON.stringify(activity);
  let request = new Request(inbox, {
    method: "POST",
    headers: { "Content-Type": "application/activity+json", Accept: "application/activity+json" },
    body,
  });
  request = await signRequest(request, a.keyPair.privateKey, keyId(a));
  if (tamper === "badsig") {
    const h = new Headers(request.headers);
    h.set("Signature", h.get("Signature").replace(/signature="/, 'signature="AAAA'));
    request = new Request(request.url, { method: "POST", headers: h, body });
  }
  const resp = await fetch(request);
  const text = await resp.text();
  return { status: resp.status, body: text };
}

async function inboxOf(actorUrl) {
  const doc = await fetchActorDoc(actorUrl);
  return doc.endpoints?.sharedInbox ?? doc.inbox;
}

// deliverToFollowers sends to every accepted follower of the group/relay.
async function deliverToFollowers(target, from, activity) {
  const out = [];
  for (const [follower, f] of followers.get(target.name) ?? []) {
    if (f.state !== "accepted") continue;
    out.push(await deliver(from, await inboxOf(follower), activity));
  }
  return out;
}

// ---------------------------------------------------------------- events

function mobilizonEvent(e) {
  const group = actors.get("mygroup");
  const organiser = actors.get(e.organiser ?? "alice");
  const url = `${base}/events/${e.uuid}`;
  const obj = {
    type: "Event", id: url, url, uuid: e.uuid, name: e.name,
    content: e.content ?? "<p>Une soirée.</p>", mediaType: "text/html",
    summary: "generated summary",
    actor: id(organiser), attributedTo: id(group),
    to: [PUBLIC], cc: [id(organiser) + "/followers"],
    published: e.published, updated: e.updated,
    startTime: e.startTime, endTime: e.endTime ?? null, timezone: e.timezone ?? null,
    joinMode: e.joinMode ?? "free", externalParticipationUrl: null,
    maximumAttendeeCapacity: e.maximumAttendeeCapacity ?? 0,
    remainingAttendeeCapacity: e.maximumAttendeeCapacity ? e.maximumAttendeeCapacity - (e.participants ?? 0) : null,
    participantCount: e.participants ?? 0,
    repliesModerationOption: "allow_all", commentsEnabled: true, anonymousParticipationEnabled: false,
    isOnline: false, draft: !!e.draft, status: e.status ?? "CONFIRMED", "ical:status": e.status ?? "CONFIRMED",
    category: "MEETING", inLanguage: "fr", contacts: [], tag: [], attachment: [],
  };
  if (e.location) obj.location = e.location;
  return obj;
}

function gancioEvent(e) {
  const relay = actors.get("relay");
  const url = `${base}/federation/m/${e.uuid}`;
  return {
    id: url, name: e.name, url: `${base}/event/${e.uuid}`, type: "Event",
    startTime: e.startTime, endTime: e.endTime ?? null,
    location: { name: e.place ?? "Colosseo" },
    tag: [{ type: "Hashtag", name: "#test", href: "/tags/test" }],
    published: e.published, updated: e.updated,
    attributedTo: id(relay), to: [PUBLIC], cc: [id(relay) + "/followers"],
    content: e.content ?? "📍 Colosseo", summary: e.content ?? "📍 Colosseo",
  };
}

const eventObject = (e) => (shape === "gancio" ? gancioEvent(e) : mobilizonEvent(e));
const eventPath = (uuid) => (shape === "gancio" ? `/federation/m/${uuid}` : `/events/${uuid}`);

function ctx(o) {
  if (shape === "peertube") return { "@context": PT_ACTIVITY_CONTEXT, ...o };
  return { "@context": shape === "gancio" ? "https://www.w3.org/ns/activitystreams" : MZ_CONTEXT, ...o };
}

// publish sends Create or Update the way each server does: Mobilizon from
// the organiser Person (then the group's Announce, unless announceOnly
// sends only that); Gancio from its relay actor.
async function publish(e, type, opts = {}) {
  const obj = eventObject(e);
  const results = [];
  if (shape === "gancio") {
    const relay = actors.get("relay");
    const act = ctx({ id: obj.id + (type === "Create" ? "#create" : "#update-" + Date.now()), type, actor: id(relay), to: [PUBLIC], cc: [id(relay) + "/followers"], object: obj });
    if (type === "Create") act.published = new Date().toISOString();
    results.push(...(await deliverToFollowers(relay, relay, act)));
    return results;
  }
  const group = actors.get("mygroup");
  const organiser = actors.get(e.organiser ?? "alice");
  if (!opts.announceOnly) {
    // Update reuses the Create's id (FORMAT §4.2) and carries a stray "local".
    const act = ctx({ id: obj.id + "/activity", type, actor: id(organiser), attributedTo: id(group), to: [PUBLIC], cc: [id(group) + "/members", id(group) + "/followers"], object: obj });
    if (type === "Create") act.published = new Date().toISOString();
    else act.local = true;
    results.push(...(await deliverToFollowers(group, organiser, act)));
  }
  if (!opts.noAnnounce) {
    const ann = ctx({ id: `${base}/announces/${crypto.randomUUID()}`, type: "Announce", actor: id(group), attributedTo: id(group), object: obj, to: [PUBLIC, id(group) + "/followers", id(group) + "/members"], cc: [] });
    results.push(...(await deliverToFollowers(group, group, ann)));
  }
  return results;
}

async function remove(e, opts = {}) {
  e.deleted = new Date();
  if (shape === "gancio") {
    const relay = actors.get("relay");
    const url = base + eventPath(e.uuid);
    return deliverToFollowers(relay, relay, ctx({ id: url + "#delete", type: "Delete", actor: id(relay), to: [PUBLIC], object: url }));
  }
  const group = actors.get("mygroup");
  const deleter = actors.get(opts.by ?? "mod");
  const url = `${base}/events/${e.uuid}`;
  const micro = e.deleted.toISOString().replace("Z", "123Z");
  return deliverToFollowers(group, deleter, ctx({
    id: url + "/delete", type: "Delete", actor: id(deleter),
    object: { type: "Tombstone", formerType: "Event", id: url, deleted: micro, published: e.deleted.toISOString() },
    to: [PUBLIC], cc: [id(group) + "/members", id(group) + "/followers"],
  }));
}

// ---------------------------------------------------------------- collections

// page serves Mobilizon's pagination: 10 per page, first page embedded,
// and a next link even after the last real page (FORMAT §9).
function collection(path, items, pageParam) {
  const total = items.length;
  const pageOf = (n) => {
    const slice = items.slice((n - 1) * 10, n * 10);
    const p = { id: `${base}${path}?page=${n}`, type: "OrderedCollectionPage", partOf: base + path, orderedItems: slice };
    if ((n - 1) * 10 < total) p.next = `${base}${path}?page=${n + 1}`;
    if (n > 1) p.prev = `${base}${path}?page=${n - 1}`;
    return p;
  };
  if (pageParam) return ctx(pageOf(Number(pageParam)));
  return ctx({ id: base + path, type: "OrderedCollection", totalItems: total, first: pageOf(1) });
}

const publicEvents = () => [...events.values()].filter((e) => !e.draft && !e.deleted);

function outboxItems() {
  return publicEvents().map((e) => {
    const obj = eventObject(e);
    // Synthetic Creates whose `to` is a bare string (FORMAT §9).
    return { id: obj.id + "/activity", type: "Create", actor: obj.actor ?? obj.attributedTo, to: PUBLIC, published: new Date().toISOString(), object: obj };
  });
}

// ---------------------------------------------------------------- inbox

async function handleInbox(req, res, path, targetName) {
  const body = await readBody(req);
  let activity;
  try {
    activity = JSON.parse(body.toString("utf8"));
  } catch {
    return send(res, 400, "bad json", "text/plain");
  }
  const key = await verifyRequest(toRequest(req, body), { documentLoader, timeWindow: { hours: 12 } });
  const actor = typeof activity.actor === "string" ? activity.actor : activity.actor?.id;
  const verified = key != null && key.ownerId?.href === actor;
  const rec = { path, verified, activity, status: 0, at: Date.now() }; // at: ms since the epoch, for latency measurements
  received.push(rec);
  const bad = () => {
    if (shape === "peertube") {
      // PeerTube's checkSignature middleware answers 403.
      rec.status = 403;
      return send(res, 403, "Forbidden", "text/plain");
    }
    // Mobilizon: HTTP 200 "error" for a bad or missing signature; Gancio
    // (Express) answers 401.
    rec.status = shape === "gancio" ? 401 : 200;
    return shape === "gancio" ? send(res, 401, "Unauthorized", "text/plain") : send(res, 200, "\"error\"", "application/json");
  };
  if (!verified) return bad();
  if (shape === "mobilizon" && targetName) {
    const target = actors.get(targetName);
    const aud = [activity.to, activity.cc, activity.bto, activity.bcc].flat().filter(Boolean);
    const addressed = aud.length === 0 || aud.includes(id(target)) || (typeof activity.object === "string" && activity.object === id(target));
    if (!addressed) {
      rec.status = 500;
      return send(res, 500, "Internal Server Error", "text/plain");
    }
  }
  rec.status = 200;
  if (shape === "peertube") {
    res.writeHead(204);
    res.end();
  } else {
    send(res, shape === "gancio" ? 202 : 200, shape === "gancio" ? "" : "\"ok\"", "application/json");
  }
  // Act after answering, as servers do.
  setImmediate(() => act(activity, actor).catch((err) => console.error("peer: act:", err)));
}

function targetOf(url) {
  for (const a of actors.values()) if (id(a) === url) return a;
  return null;
}

async function act(activity, actor) {
  switch (activity.type) {
    case "Follow": {
      const target = targetOf(typeof activity.object === "string" ? activity.object : activity.object?.id);
      if (!target) return;
      // Mobilizon persons cannot be followed: no answer. PeerTube accepts
      // follows of channels, accounts and its instance actor.
      if (target.type === "Person" && shape !== "peertube") return;
      if (!followers.has(target.name)) followers.set(target.name, new Map());
      const prev = followers.get(target.name).get(actor);
      if (prev && prev.state !== "rejected") return; // pending or accepted: no new Accept.
      const f = { followId: activity.id, state: "pending", follow: activity };
      followers.get(target.name).set(actor, f);
      const manual = target.manuallyApprovesFollowers || target.type === "Application" && shape === "mobilizon";
      if (!manual) await answerFollow(target, actor, "Accept");
      return;
    }
    case "Undo": {
      const inner = activity.object;
      if (inner?.type === "Follow") {
        const target = targetOf(typeof inner.object === "string" ? inner.object : inner.object?.id);
        followers.get(target?.name)?.delete(actor);
      }
      return;
    }
    case "Join": {
      const uuid = String(activity.object).split("/").pop();
      const e = events.get(uuid);
      if (!e) return;
      const full = e.maximumAttendeeCapacity > 0 && (e.participants ?? 0) >= e.maximumAttendeeCapacity;
      if (full) return; // FORMAT §5: a Join to a full event gets no answer.
      joins.set(activity.id, { join: activity, state: "pending", uuid });
      if ((e.joinMode ?? "free") !== "free") return;
      // Mobilizon accepts a Join to a free group event without a local
      // moderator but sends no Accept: quietJoins events behave so (a
      // later /_control/joins/accept still sends one).
      if (quietJoins.has(uuid)) {
        joins.get(activity.id).state = "accepted";
        e.participants = (e.participants ?? 0) + 1;
        return;
      }
      await answerJoin(activity.id, "Accept", true);
      return;
    }
    case "Leave": {
      for (const [jid, j] of joins) if (j.join.actor === actor && j.join.object === activity.object) j.state = "left";
      return;
    }
  }
}

async function answerFollow(target, follower, type) {
  const f = followers.get(target.name)?.get(follower);
  if (!f) throw new Error(`no follow of ${target.name} by ${follower}`);
  f.state = type === "Accept" ? "accepted" : "rejected";
  if (shape === "peertube") {
    // PeerTube's sendAccept: from the followed actor, id
    // /accepts/follows/<n>, the Follow rebuilt with the follower's id.
    const answer = ctx({
      type, id: `${base}/${type === "Accept" ? "accepts" : "rejects"}/follows/${++followSeq}`, actor: id(target),
      object: { type: "Follow", id: f.followId, actor: follower, object: id(target) },
    });
    return deliver(target, await inboxOf(follower), answer);
  }
  // The embedded Follow is rebuilt but keeps the follower's id (FORMAT §8).
  const answer = ctx({
    id: `${base}/${type.toLowerCase()}/follow/${crypto.randomUUID()}`, type, actor: id(target), to: [follower], cc: [],
    object: { type: "Follow", id: f.followId, actor: follower, object: id(target), to: [id(target)], cc: [PUBLIC], published: new Date().toISOString() },
  });
  return deliver(target, await inboxOf(follower), answer);
}

async function answerJoin(joinId, type, auto = false) {
  const j = joins.get(joinId);
  if (!j) throw new Error(`no join ${joinId}`);
  const wasAccepted = j.state === "accepted";
  j.state = type === "Accept" ? "accepted" : "rejected";
  const group = actors.get("mygroup");
  const mod = actors.get("mod");
  const e = events.get(j.uuid);
  if (type === "Accept" && !wasAccepted) e.participants = (e.participants ?? 0) + 1;
  const answer = ctx({
    id: `${base}/${type.toLowerCase()}/join/${crypto.randomUUID()}`, type, actor: id(mod),
    object: { type: "Join", id: j.join.id, actor: j.join.actor, object: j.join.object, participationMessage: j.join.participationMessage ?? null, published: new Date().toISOString() },
    to: [j.join.actor, id(group)], cc: [id(group) + "/members", id(group) + "/followers"],
  });
  if (auto) answer.attributedTo = id(group); // only automatic Accepts of group events carry it.
  return deliver(mod, await inboxOf(j.join.actor), answer);
}

// ---------------------------------------------------------------- control API

let seq = 0;
// quietJoins: uuids of free events whose Joins are accepted without an
// Accept (POST /_control/events {quietJoins: true}).
const quietJoins = new Set();
async function control(req, res, url) {
  const body = req.method === "GET" ? {} : JSON.parse((await readBody(req)).toString("utf8") || "{}");
  const parts = url.pathname.split("/").filter(Boolean).slice(1); // after _control
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  try {
    if (req.method === "GET" && parts[0] === "received") return send(res, 200, received, "application/json");
    if (req.method === "GET" && parts[0] === "fetched") return send(res, 200, fetched, "application/json");
    if (req.method === "GET" && parts[0] === "state") {
      return send(res, 200, {
        followers: Object.fromEntries([...followers].map(([k, m]) => [k, Object.fromEntries(m)])),
        joins: Object.fromEntries(joins), events: Object.fromEntries(events),
        actors: Object.fromEntries([...actors].map(([k, a]) => [k, id(a)])),
      }, "application/json");
    }
    if (req.method === "POST" && parts[0] === "events" && parts.length === 1) {
      const e = { uuid: body.uuid ?? `e${++seq}-${crypto.randomUUID().slice(0, 8)}`, published: now, updated: now, ...body };
      delete e.announceOnly; delete e.noAnnounce; delete e.silent; delete e.quietJoins;
      if (body.quietJoins) quietJoins.add(e.uuid);
      events.set(e.uuid, e);
      const deliveries = body.silent ? [] : await publish(e, "Create", body);
      return send(res, 200, { uuid: e.uuid, id: base + eventPath(e.uuid), deliveries }, "application/json");
    }
    if (parts[0] === "events" && parts.length === 2) {
      const e = events.get(parts[1]);
      if (!e) return send(res, 404, { error: "no such event" }, "application/json");
      if (req.method === "PATCH") {
        const { announceOnly, noAnnounce, ...fields } = body;
        Object.assign(e, fields, { updated: body.updated ?? new Date(Math.max(Date.parse(e.updated) + 1000, Date.now())).toISOString().replace(/\.\d+Z$/, "Z") });
        const deliveries = await publish(e, "Update", { announceOnly, noAnnounce });
        return send(res, 200, { uuid: e.uuid, deliveries }, "application/json");
      }
      if (req.method === "DELETE") {
        const deliveries = await remove(e, body);
        return send(res, 200, { uuid: e.uuid, deliveries }, "application/json");
      }
    }
    if (shape === "peertube" && parts[0] === "videos") return controlVideos(req, res, parts, body);
    if (req.method === "POST" && parts[0] === "follows") {
      // /_control/follows/{accept|reject} {target, follower}
      const target = actors.get(body.target ?? (shape === "gancio" ? "relay" : "mygroup"));
      const r = await answerFollow(target, body.follower, parts[1] === "accept" ? "Accept" : "Reject");
      return send(res, 200, r, "application/json");
    }
    if (req.method === "POST" && parts[0] === "joins") {
      const r = await answerJoin(body.join, parts[1] === "accept" ? "Accept" : "Reject");
      return send(res, 200, r, "application/json");
    }
    if (req.method === "POST" && parts[0] === "send") {
      // Send any activity signed by one of the peer's actors: {from, inbox, activity, tamper}
      const a = actors.get(body.from);
      const r = await deliver(a, body.inbox, body.activity, body);
      return send(res, 200, r, "application/json");
    }
    return send(res, 404, { error: "unknown control call" }, "application/json");
  } catch (err) {
    return send(res, 500, { error: String(err?.stack ?? err) }, "application/json");
  }
}

// ---------------------------------------------------------------- router

async function route(req, res) {
  const url = new URL(req.url, base);
  const p = url.pathname;
  if (p.startsWith("/_control/")) return control(req, res, url);
  if (shape === "peertube") return routePeerTube(req, res, url);
  if (req.method === "POST") {
    if (p === "/inbox") return handleInbox(req, res, p, null);
    const m = p.match(shape === "gancio" ? /^\/federation\/u\/([^/]+)\/inbox$/ : /^\/@([^/]+)\/inbox$/);
    if (m && actors.has(m[1])) return handleInbox(req, res, p, m[1]);
    return send(res, 404, "not found", "text/plain");
  }
  if (p === "/.well-known/nodeinfo") {
    return send(res, 200, { links: [{ rel: "http://nodeinfo.diaspora.software/ns/schema/2.0", href: base + "/nodeinfo/2.0" }] }, "application/json");
  }
  if (p === "/nodeinfo/2.0") {
    return send(res, 200, { version: "2.0", software: { name: shape, version: shape === "mobilizon" ? "5.1.3" : "1.22.0" }, protocols: ["activitypub"], usage: { users: {} }, openRegistrations: false, metadata: {} }, "application/json");
  }
  if (p === "/.well-known/webfinger") {
    const resource = (url.searchParams.get("resource") ?? "").replace(/^acct:/, "");
    const [name, h] = resource.split("@");
    const a = actors.get(name);
    if (!a || h !== new URL(base).host) return send(res, 404, "not found", "text/plain");
    return send(res, 200, { subject: `acct:${name}@${h}`, aliases: [id(a)], links: [{ rel: "self", type: "application/activity+json", href: id(a) }] }, "application/jrd+json");
  }
  for (const a of actors.values()) {
    if (p === a.path) return send(res, 200, actorDocument(a));
    if (p === a.path + "/outbox") return send(res, 200, collection(p, outboxItems(), url.searchParams.get("page")));
    if (p === a.path + "/events" && a.type === "Group") {
      return send(res, 200, collection(p, publicEvents().map(eventObject), url.searchParams.get("page")));
    }
    if (p === a.path + "/followers") return send(res, 200, collection(p, [...(followers.get(a.name)?.keys() ?? [])], url.searchParams.get("page")));
  }
  const m = p.match(shape === "gancio" ? /^\/federation\/m\/([^/]+)$/ : /^\/events\/([^/]+)$/);
  if (m && events.has(m[1])) {
    const e = events.get(m[1]);
    // Every GET of an event is recorded, with its validators, so tests see
    // conditional re-fetches; the answer carries an ETag and a
    // Last-Modified and honours If-None-Match / If-Modified-Since.
    const rec = { path: p, signed: Boolean(req.headers.signature), ifNoneMatch: req.headers["if-none-match"] ?? "", ifModifiedSince: req.headers["if-modified-since"] ?? "", status: 0 };
    fetched.push(rec);
    if (e.deleted) {
      rec.status = 410;
      // After Delete: 410 with a Tombstone whose `deleted` is naive and
      // which has no formerType (FORMAT §4.3).
      return send(res, 410, ctx({ type: "Tombstone", id: base + p, actor: id(actors.get("mod") ?? actors.get("relay")), deleted: e.deleted.toISOString().replace(/\.\d+Z$/, "") }));
    }
    if (e.draft) { rec.status = 404; return send(res, 404, "not found", "text/plain"); }
    const etag = `"${e.updated}-${e.participants ?? 0}"`;
    const lastModified = new Date(e.updated).toUTCString();
    const validators = { ETag: etag, "Last-Modified": lastModified };
    if (rec.ifNoneMatch ? rec.ifNoneMatch === etag : rec.ifModifiedSince && Date.parse(rec.ifModifiedSince) >= Date.parse(lastModified)) {
      rec.status = 304;
      res.writeHead(304, validators);
      return res.end();
    }
    rec.status = 200;
    return send(res, 200, ctx(eventObject(e)), "application/activity+json", validators);
  }
  return send(res, 404, "not found", "text/plain");
}

// ---------------------------------------------------------------- PeerTube shape
//
// A PeerTube 7.3 instance as peertube/FORMAT.md reads its source: an
// instance actor /accounts/peertube (Application), an account
// /accounts/root (Person) and its channel /video-channels/root_channel
// (Group); SPKI keys; follows of any of them accepted at once by the
// followed actor. A new video goes out as Create{Video} from the account
// (to the account's followers) plus Announces of its URL by the instance
// actor and by the channel (to theirs); every later change is a full
// Update{Video} from the account, and deletion a Delete of the bare URL,
// both to the followers of the account and of every actor that shared it.

const PT_ACTIVITY_CONTEXT = [
  "https://www.w3.org/ns/activitystreams",
  "https://w3id.org/security/v1",
  { RsaSignature2017: "https://w3id.org/security#RsaSignature2017" },
];
// The Video context, shortened to the terms passerelle reads.
const PT_VIDEO_CONTEXT = [
  ...PT_ACTIVITY_CONTEXT,
  {
    pt: "https://joinpeertube.org/ns#",
    sc: "http://schema.org/",
    Hashtag: "as:Hashtag",
    category: "sc:category",
    licence: "sc:license",
    sensitive: "as:sensitive",
    language: "sc:inLanguage",
    identifier: "sc:identifier",
    isLiveBroadcast: "sc:isLiveBroadcast",
    liveSaveReplay: { "@type": "sc:Boolean", "@id": "pt:liveSaveReplay" },
    permanentLive: { "@type": "sc:Boolean", "@id": "pt:permanentLive" },
    latencyMode: { "@type": "sc:Number", "@id": "pt:latencyMode" },
    schedules: { "@id": "sc:eventSchedule" },
    startDate: "sc:startDate",
    uuid: { "@type": "sc:identifier", "@id": "pt:uuid" },
    originallyPublishedAt: "sc:datePublished",
    state: { "@type": "sc:Number", "@id": "pt:state" },
    commentsEnabled: { "@type": "sc:Boolean", "@id": "pt:commentsEnabled" },
    downloadEnabled: { "@type": "sc:Boolean", "@id": "pt:downloadEnabled" },
    waitTranscoding: { "@type": "sc:Boolean", "@id": "pt:waitTranscoding" },
    support: { "@type": "sc:Text", "@id": "pt:support" },
  },
];
const PT_ACTOR_CONTEXT = [
  ...PT_ACTIVITY_CONTEXT,
  {
    pt: "https://joinpeertube.org/ns#",
    sc: "http://schema.org/",
    playlists: { "@id": "pt:playlists", "@type": "@id" },
    support: { "@type": "sc:Text", "@id": "pt:support" },
  },
];

const videos = new Map(); // uuid -> video record
let followSeq = 0;
let announceSeq = 0;
const isoMs = (d = new Date()) => d.toISOString(); // PeerTube: milliseconds and Z

function peertubeActor(a) {
  const aid = id(a);
  const doc = {
    "@context": PT_ACTOR_CONTEXT, type: a.type, id: aid,
    following: aid + "/following", followers: aid + "/followers", playlists: aid + "/playlists",
    inbox: aid + "/inbox", outbox: aid + "/outbox", preferredUsername: a.name, url: aid,
    name: a.display ?? a.name, endpoints: { sharedInbox: base + "/inbox" },
    publicKey: { id: aid + "#main-key", owner: aid, publicKeyPem: a.pem },
    published: startedAt, summary: null,
  };
  if (a.type === "Group") {
    doc.support = null;
    doc.attributedTo = [{ type: "Person", id: id(actors.get("root")) }];
  }
  return doc;
}

const videoURL = (uuid) => `${base}/videos/watch/${uuid}`;

// peertubeVideo builds the Video object as the 7.3 formatter writes it
// (FORMAT.md): live fields set together, `schedules` always present.
function peertubeVideo(v) {
  const account = id(actors.get("root"));
  const channel = id(actors.get("root_channel"));
  const url = videoURL(v.uuid);
  const live = v.isLiveBroadcast;
  return {
    to: [PUBLIC], cc: [account + "/followers"],
    type: "Video", id: url, name: v.name, duration: live ? "PT0S" : (v.duration ?? "PT31S"), uuid: v.uuid,
    category: { identifier: "11", name: "News & Politics" },
    licence: { identifier: "1", name: "Attribution" },
    language: { identifier: v.language ?? "fr", name: "French" },
    views: 0, sensitive: false, waitTranscoding: true, state: v.state,
    commentsEnabled: true, canReply: null, commentsPolicy: 1, downloadEnabled: true,
    published: v.published, originallyPublishedAt: null, updated: v.updated,
    tag: (v.tags ?? []).map((name) => ({ type: "Hashtag", name })),
    mediaType: "text/markdown", content: v.content ?? null, support: null,
    icon: [
      { type: "Image", url: `${base}/lazy-static/thumbnails/${v.uuid}.jpg`, mediaType: "image/jpeg", width: 280, height: 157 },
      { type: "Image", url: `${base}/lazy-static/previews/${v.uuid}.jpg`, mediaType: "image/jpeg", width: 850, height: 480 },
    ],
    aspectRatio: 1.7778,
    url: [
      { type: "Link", mediaType: "text/html", href: url },
      { type: "Link", mediaType: "application/x-mpegURL", href: `${base}/static/streaming-playlists/hls/${v.uuid}/master.m3u8`, tag: [] },
    ],
    likes: url + "/likes", dislikes: url + "/dislikes", shares: url + "/announces", comments: url + "/comments",
    // Captures have {type, id} objects; the newest formatter bare URLs.
    attributedTo: v.stringAttributedTo ? [account, channel] : [{ type: "Person", id: account }, { type: "Group", id: channel }],
    isLiveBroadcast: live,
    liveSaveReplay: live ? !!v.saveReplay : null,
    permanentLive: live ? !!v.permanentLive : null,
    latencyMode: live ? 1 : null,
    schedules: live && v.startDate ? [{ startDate: v.startDate }] : [],
  };
}

// deliverToFollowersOf sends once to each inbox among the followers of
// the named actors (PeerTube's broadcastToFollowers dedupes inboxes).
async function deliverToFollowersOf(names, from, activity) {
  const inboxes = new Set();
  for (const n of names) {
    for (const [follower, f] of followers.get(n) ?? []) {
      if (f.state === "accepted") inboxes.add(await inboxOf(follower));
    }
  }
  const out = [];
  for (const inbox of inboxes) out.push(await deliver(from, inbox, activity));
  return out;
}

function announceOf(v, by) {
  const url = videoURL(v.uuid);
  // Each share keeps its id (/announces/<n>) in the outbox as when sent.
  v.announces ??= {};
  v.announces[by.name] ??= String(++announceSeq);
  return {
    "@context": PT_ACTIVITY_CONTEXT,
    to: [PUBLIC, id(actors.get("root_channel")) + "/followers", id(actors.get("peertube")) + "/followers"], cc: [],
    type: "Announce", id: `${url}/announces/${v.announces[by.name]}`, actor: id(by), object: url,
  };
}

// federateVideo: Create + the two Announces the first time, Update after.
async function federateVideo(v, first) {
  const account = actors.get("root");
  const obj = peertubeVideo(v);
  if (first) {
    const out = [];
    out.push(...(await deliverToFollowersOf(["root"], account, {
      "@context": PT_VIDEO_CONTEXT, to: [PUBLIC], cc: [id(account) + "/followers"],
      type: "Create", id: obj.id + "/activity", actor: id(account), object: obj,
    })));
    for (const by of [actors.get("peertube"), actors.get("root_channel")]) {
      out.push(...(await deliverToFollowersOf([by.name], by, announceOf(v, by))));
    }
    return out;
  }
  return deliverToFollowersOf(["root", "peertube", "root_channel"], account, {
    "@context": PT_VIDEO_CONTEXT, to: [PUBLIC], cc: [id(account) + "/followers"],
    type: "Update", id: `${obj.id}/updates/${v.updated}`, actor: id(account), object: obj,
  });
}

async function deleteVideo(v) {
  v.deleted = true;
  const account = actors.get("root");
  const url = videoURL(v.uuid);
  return deliverToFollowersOf(["root", "peertube", "root_channel"], account, {
    "@context": PT_ACTIVITY_CONTEXT,
    to: [PUBLIC, id(actors.get("root_channel")) + "/followers", id(actors.get("peertube")) + "/followers"], cc: [],
    type: "Delete", id: url + "/delete", actor: id(account), object: url,
  });
}

// PeerTube's activityPubCollectionPagination: the collection links its
// first page by URL; pages hold 10 items and link the next while more remain.
function ptCollection(path, items, pageParam) {
  const total = items.length;
  if (!pageParam) {
    return { "@context": PT_ACTIVITY_CONTEXT, id: base + path, type: "OrderedCollection", totalItems: total, first: total ? `${base}${path}?page=1` : undefined };
  }
  const n = Number(pageParam);
  const p = { "@context": PT_ACTIVITY_CONTEXT, id: `${base}${path}?page=${n}`, type: "OrderedCollectionPage", partOf: base + path, orderedItems: items.slice((n - 1) * 10, n * 10), totalItems: total };
  if (total > n * 10) p.next = `${base}${path}?page=${n + 1}`;
  if (n > 1) p.prev = `${base}${path}?page=${n - 1}`;
  return p;
}

// outboxOf: the account's outbox has its Creates; a channel's and the
// instance actor's have their Announces (object: the video URL).
function ptOutbox(a) {
  const live = [...videos.values()].filter((v) => !v.deleted).reverse();
  if (a.name === "root") {
    return live.map((v) => {
      const obj = peertubeVideo(v);
      return { to: [PUBLIC], cc: [id(a) + "/followers"], type: "Create", id: obj.id + "/activity", actor: id(a), object: obj };
    });
  }
  return live.map((v) => {
    const { "@context": _, ...ann } = announceOf(v, a);
    return ann;
  });
}

async function controlVideos(req, res, parts, body) {
  if (req.method === "POST" && parts.length === 1) {
    // {uuid?, name, content?, startDate?, isLiveBroadcast? (true), state?
    //  (4 for a live, 1 otherwise), permanentLive?, saveReplay?,
    //  stringAttributedTo?, tags?, silent?}
    const now = isoMs();
    const live = body.isLiveBroadcast ?? true;
    const v = {
      uuid: body.uuid ?? crypto.randomUUID(), state: live ? 4 : 1, published: now, updated: now,
      ...body, isLiveBroadcast: live,
    };
    delete v.silent;
    videos.set(v.uuid, v);
    const deliveries = body.silent ? [] : await federateVideo(v, true);
    return send(res, 200, { uuid: v.uuid, id: videoURL(v.uuid), deliveries }, "application/json");
  }
  const v = videos.get(parts[1]);
  if (!v) return send(res, 404, { error: "no such video" }, "application/json");
  if (req.method === "PATCH") {
    // Any of the fields above, e.g. {startDate} to reschedule, {state: 1}
    // when the stream starts (publishedAt is reset then), {state: 5} when
    // it ends, {isLiveBroadcast: false, state: 1, duration} for a replay.
    const startsNow = body.state === 1 && v.state !== 1 && (body.isLiveBroadcast ?? v.isLiveBroadcast);
    Object.assign(v, body);
    const prev = Date.parse(v.updated);
    v.updated = body.updated ?? isoMs(new Date(Math.max(prev + 1, Date.now())));
    if (startsNow) v.published = v.updated;
    return send(res, 200, { uuid: v.uuid, deliveries: await federateVideo(v, false) }, "application/json");
  }
  if (req.method === "DELETE") {
    return send(res, 200, { uuid: v.uuid, deliveries: await deleteVideo(v) }, "application/json");
  }
  return send(res, 404, { error: "unknown control call" }, "application/json");
}

async function routePeerTube(req, res, url) {
  const p = url.pathname;
  if (req.method === "POST") {
    if (p === "/inbox") return handleInbox(req, res, p, null);
    const m = p.match(/^\/(?:accounts|video-channels)\/([^/]+)\/inbox$/);
    if (m && actors.has(m[1])) return handleInbox(req, res, p, m[1]);
    return send(res, 404, "not found", "text/plain");
  }
  if (p === "/.well-known/nodeinfo") {
    return send(res, 200, { links: [
      { rel: "http://nodeinfo.diaspora.software/ns/schema/2.0", href: base + "/nodeinfo/2.0.json" },
      { rel: "https://www.w3.org/ns/activitystreams#Application", href: id(actors.get("peertube")) },
    ] }, "application/json");
  }
  if (p === "/nodeinfo/2.0.json") {
    return send(res, 200, {
      version: "2.0", software: { name: "peertube", version: "7.3.0" }, protocols: ["activitypub"],
      services: { inbound: [], outbound: ["atom1.0", "rss2.0"] }, openRegistrations: false,
      usage: { users: { total: 1 }, localPosts: videos.size }, metadata: { taxonomy: { postsName: "Videos" }, nodeName: "PeerTube test" },
    }, "application/json");
  }
  if (p === "/.well-known/webfinger") {
    const resource = (url.searchParams.get("resource") ?? "").replace(/^acct:/, "");
    const [name, h] = resource.split("@");
    const a = actors.get(name);
    if (!a || h !== new URL(base).host) return send(res, 404, "not found", "text/plain");
    return send(res, 200, { subject: `acct:${name}@${h}`, aliases: [id(a)], links: [
      { rel: "self", type: "application/activity+json", href: id(a) },
      { rel: "http://ostatus.org/schema/1.0/subscribe", template: `${base}/remote-interaction?uri={uri}` },
    ] }, "application/jrd+json");
  }
  for (const a of actors.values()) {
    if (p === a.path) return send(res, 200, actorDocument(a));
    if (p === a.path + "/outbox") return send(res, 200, ptCollection(p, ptOutbox(a), url.searchParams.get("page")));
    if (p === a.path + "/followers") return send(res, 200, ptCollection(p, [...(followers.get(a.name)?.keys() ?? [])], url.searchParams.get("page")));
  }
  const m = p.match(/^\/videos\/watch\/([^/]+)$/);
  if (m && videos.has(m[1]) && !videos.get(m[1]).deleted) {
    return send(res, 200, { "@context": PT_VIDEO_CONTEXT, ...peertubeVideo(videos.get(m[1])) });
  }
  return send(res, 404, "not found", "text/plain");
}

const startedAt = isoMs();

// ---------------------------------------------------------------- start

if (shape === "mobilizon") {
  await makeActor("mygroup", "Group", "/@mygroup", { display: "My Group" });
  await makeActor("alice", "Person", "/@alice");
  await makeActor("mod", "Person", "/@mod");
  await makeActor("closedgroup", "Group", "/@closedgroup", { manuallyApprovesFollowers: true });
  await makeActor("relay", "Application", "/relay", { manuallyApprovesFollowers: true });
} else if (shape === "gancio") {
  await makeActor("relay", "Application", "/federation/u/relay");
} else if (shape === "peertube") {
  await makeActor("peertube", "Application", "/accounts/peertube");
  await makeActor("root", "Person", "/accounts/root", { display: "Root account" });
  await makeActor("root_channel", "Group", "/video-channels/root_channel", { display: "Assemblée en direct" });
} else {
  console.error(`unknown --shape ${shape} (want mobilizon, gancio or peertube)`);
  process.exit(2);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error("peer:", err);
    if (!res.headersSent) send(res, 500, String(err), "text/plain");
  });
});
server.listen(port, host, () => {
  const addr = server.address();
  base = `http://${addr.address}:${addr.port}`;
  console.log(`READY ${base}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
