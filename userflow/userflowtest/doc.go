// Package userflowtest is a strict, in-memory fake of the Userflow REST API,
// for tests (NewServer starts it on a loopback httptest.Server) and as a
// standalone process (cmd/userflow-fake).
//
// It parses request bodies with its own strict decoding, never with the
// userflow client's types, so that it catches client bugs rather than
// sharing them. Every rule is tagged as in shared/userflow-api.md: [doc]
// Userflow documents it, [seen] third-party code relies on it, [assumed]
// nobody has confirmed it.
//
// # API
//
//	POST   /users        upsert a user, its groups and memberships; 201 created, 200 updated
//	GET    /users/{id}   the user with its memberships; 404 not_found
//	DELETE /users/{id}   remove the user, its memberships and events; its groups stay
//	POST   /groups       upsert a group; 201 or 200
//	GET    /groups/{id}  the group; 404 not_found
//	DELETE /groups/{id}  remove the group and memberships to it; its users stay
//	POST   /events       record an event; 201
//
// Every API request needs "Authorization: Bearer <key>" (else 401
// unauthorized) and "Userflow-Version: 2020-01-03" (else 400
// invalid_params); a POST needs "Content-Type: application/json". An id in
// a path is one escaped segment: /users/a%2Fb is user "a/b". Unknown paths
// are answered 404, known paths with another method 405 with Allow. Errors
// are {"error":{"code","message"}}. Every response, admin ones included, is
// JSON and has a unique X-Request-Id.
//
// Checks run in this order, and the first that fails answers: pause, latency,
// connection reset, revoked key, API key, RPS limit, random 429, random 500,
// route, method, headers, body, permanent bad ids, and the operation itself.
//
// # Strictness
//
// Where Userflow's behaviour is unknown, the fake rejects rather than
// guesses, so a client that passes against it sends only well-formed
// requests. With Options.Lenient these deviations are turned off:
//   - a missing Userflow-Version header is rejected (Userflow applies its
//     latest version [doc]);
//   - unknown JSON fields, at any level of a body, are rejected [assumed];
//   - prune_memberships true without a groups or memberships list is
//     rejected [assumed] (lenient: ignored).
//
// Always checked: ids are non-empty strings, at most one of groups and
// memberships [seen], every embedded group has an id, attribute names pass
// userflow.ValidAttributeName [seen], attribute values are literals (string,
// number, boolean, null, list of those) [doc] or one operation object such as
// {"set_once": v, "data_type": "string"} [doc, userflow.js]. Event attributes
// must be literals [assumed].
//
// # Semantics
//
// Sent attributes are merged into stored ones and others stay [seen]; null
// stores null [assumed]; set_once writes only an absent or null attribute;
// add and subtract need a number; append, prepend and remove work on lists.
// groups and memberships create missing groups and merge the sent group
// and membership attributes [seen]; prune_memberships drops the user's other
// memberships but keeps the groups [doc]. A request that fails changes
// nothing.
//
// # Introspection and faults
//
// The fake records every API request (Authorization redacted) and exposes
// Requests, State, User, Group, Membership, Stats, InFlight and
// MaxConcurrent. Pause and AwaitInFlight hold a known number of requests in
// flight. SetFaults injects latency, connection resets, 401s, 429s (random or
// from an RPS limit, with Retry-After in seconds, as a date, or none), 500s
// and ids that always fail, from a seeded random source (see Faults).
// SetAPIKey rotates or revokes the key.
//
// # Admin surface
//
// Under /_admin/, without API key, not recorded and never faulted, for local
// use only (see README.md):
//
//	GET  /_admin/state     State as JSON
//	GET  /_admin/requests  the request log as JSON (bodies as strings)
//	GET  /_admin/stats     Stats as JSON
//	GET  /_admin/faults    Faults as JSON (durations as "250ms")
//	PUT  /_admin/faults    replace the faults; 400 for invalid ones
//	POST /_admin/reset     Reset
//	GET  /healthz          {"status":"ok"}
package userflowtest
