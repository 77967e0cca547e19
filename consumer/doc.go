// Package consumer is the at-least-once pipeline from Kafka CDC events to
// Userflow: consumer group membership, fetching, mapping (package mapping),
// batching per Userflow object, concurrent application with retries (package
// userflow sends each request once; this package is the only one that
// retries), dead-lettering, and offset commits.
//
// What a caller may rely on:
//   - An offset is committed only after every event below it is done:
//     applied, skipped by rule (mapping's skips, update mode's missing
//     objects, deletes of absent objects) or written to the dead-letter
//     topic. Commits are per partition, per interval, never per message, and
//     only through the generation that fetched the events; a failed commit
//     changes nothing and the events are redelivered to the next owner.
//   - Events of one Userflow object (mapping.Target) are applied in the
//     order they were fetched, one request at a time; requests for different
//     objects run concurrently up to MaxInFlight.
//   - Events of one object waiting together are coalesced (mapping.Coalescer,
//     as they arrive) into the fewest requests with the same effect.
//   - Transient Userflow errors (429, 5xx, network) are retried with capped
//     exponential backoff and jitter, honouring Retry-After, without holding
//     back other objects; only the failing event's partition watermark waits.
//   - A permanent rejection (400, 404 on write, 422...) of a coalesced request
//     is retried one event at a time (each mapped again from its record), and
//     only the rejected event is dead-lettered, with the reason in headers
//     (see the Header constants).
//     Without a dead-letter topic the configured policy skips or stops.
//   - 401/403 from Userflow stops Run with an error wrapping ErrUnauthorized;
//     nothing further is committed.
//   - On ctx cancel or a rebalance: fetching stops, in-flight work gets
//     DrainTimeout to finish, what finished is committed, the rest is left
//     uncommitted for redelivery.
//   - Memory is bounded between fetch and commit: by MaxBuffered events and
//     MaxBufferedBytes of estimated memory.
//
// See docs/design/consumer.md for the reasoning behind these choices.
package consumer
