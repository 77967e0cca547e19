// Package mapping turns Kafka change events into Userflow operations, and
// coalesces them. It is pure: bytes and a Config in, an Operation or a typed
// error out; no I/O, no logger, no global state but immutable tables.
//
// # Contract
//
//   - Config.Validate reports every problem of a sync's config at once: an
//     errors.Join of *FieldError, with paths relative to the sync
//     ("attributes.email.column: required") for the caller to prefix.
//   - New validates, applies the defaults (format debezium, mode upsert,
//     on_delete ignore, null skip, unit ms, the placeholder
//     __debezium_unavailable_value) and compiles the config. The *Mapper is
//     immutable and safe for concurrent use.
//   - Mapper.Map maps one Message to one Operation. It never panics and the
//     Operation shares no memory with the message. Every error is a
//     *DecodeError (the bytes are not what the format promises) or a
//     *MappingError (a well-formed event that cannot be mapped, naming the
//     field and column), and every error is permanent: the same message
//     fails the same way every time, so the consumer dead-letters it.
//   - Every Operation carries the sync's Object and Mode, the ID when it is
//     known (also on most skips), and SourceTime when the event says when
//     the change happened in the database.
//
// # Formats
//
// debezium: the change event envelope {before, after, source, op, ts_ms,
// transaction}, with or without the JSON converter's {"schema", "payload"}
// wrapper. Ops c (create), r (snapshot read) and u (update) upsert from
// after; d deletes, taking the id from before or, when before lacks it
// (replica identity without that column), from the key; t (truncate) and m
// (logical decoding message) are skipped. A missing op is a DecodeError, an
// unknown one a MappingError. SourceTime is source.ts_ms.
//
// debezium-flat: rows flattened by ExtractNewRecordState. A row with
// __deleted "true" (or true: delete.handling.mode=rewrite) or __op "d" is a
// delete of that row; __op comes from the row (add.fields=op) or from the
// __op header (add.headers=op, bare or JSON-quoted); t and m are skipped.
// SourceTime is __source_ts_ms, from the row or the header. Other __ fields
// (__table, __lsn, __db, ...) are ordinary columns, ignored unless mapped.
//
// json: one JSON object row per message, always an upsert.
//
// Every format accepts the schema wrapper, and in every format a tombstone
// (an empty value, a JSON null, or a wrapper whose payload is null) deletes
// the object whose id the key holds. A key is read as a JSON object holding
// id_column (with or without the wrapper), a JSON string or integer, or,
// when it is not JSON at all, as the id itself if it is printable UTF-8.
//
// # Deletes and tombstones
//
// on_delete: ignore turns every delete and tombstone into a skip
// (SkipDeleteIgnored, with the id when one is found). With on_delete:
// delete, a Debezium delete and the tombstone that follows it both map to a
// delete of the same object, the second with Tombstone set; Coalesce folds a
// tombstone delete into a delete before it, and a lone repeated delete is
// harmless. A tombstone whose key holds no id is skipped (SkipTombstoneNoKey).
//
// # Ids
//
// The id column, and the group id column, must hold a non-empty string or
// an integer (its exact digits). Anything else, null, a missing column or
// the unavailable placeholder in the id column is a MappingError. The group
// id column may also hold a list of ids, deduplicated.
//
// # Values
//
// An attribute's column becomes a Userflow literal: a string, a json.Number
// (its exact text: 0.10 stays 0.10, 2^53+1 stays exact), a bool, a datetime
// (an RFC 3339 string in UTC, with fractional seconds only as needed), a
// []any of literals, or nil (JSON null). With a schema, the column's
// semantic type decides:
//
//	io.debezium.time.Date, connect Date           days -> UTC midnight datetime ("2024-01-02T00:00:00Z")
//	io.debezium.time.Timestamp, connect Timestamp ms since the epoch -> datetime
//	io.debezium.time.MicroTimestamp, NanoTimestamp us, ns since the epoch -> datetime
//	io.debezium.time.ZonedTimestamp               ISO 8601 with offset -> datetime in UTC
//	io.debezium.time.Time, connect Time           ms since midnight -> "15:04:05.123" (a string, not a datetime)
//	io.debezium.time.MicroTime, NanoTime          us, ns since midnight -> "15:04:05.123456"; 24:00:00 is kept
//	io.debezium.time.ZonedTime                    the string as sent
//	io.debezium.time.Year                         number
//	connect Decimal                               base64 two's complement scaled by parameters.scale -> exact number;
//	                                              a plain number (decimal.format=NUMERIC) as is
//	io.debezium.data.VariableScaleDecimal         {scale, value} -> exact number
//	io.debezium.data.Json                         an array -> list; a scalar -> that scalar; an object -> its compact JSON text
//	arrays                                        list, each element read by the items schema
//
// Other names (Uuid, Enum, EnumSet, Xml, durations...) and plain fields are
// read by their JSON type: strings, numbers and booleans as such, bytes as
// their base64 text, an object (a struct or map) as its compact JSON text.
// decimal.handling.mode=double or string gives a plain number or string;
// without a schema a precise decimal is only base64, so configure one of
// those modes there. Lists drop null elements; a nested list or object in a
// list is an error.
//
// AttributeSpec.Type converts further, with or without a schema (a Json
// column is then its text): string from any scalar; number from a number or
// a numeric string; boolean from a bool, "true"/"false" (any case), 0 or 1;
// datetime from a temporal semantic type, an ISO 8601 string (without an
// offset it is UTC; a bare date is midnight) or an epoch number in
// AttributeSpec.Unit (fractions rounded to the microsecond); list from an
// array or the JSON text of one. A time of day is not a datetime. Datetimes
// must fall in years 0000-9999. Any mismatch is a MappingError naming the
// column, such as
//
//	mapping: after.created_at: datetime: want ISO 8601 string or epoch number, got true
//
// A null follows AttributeSpec.Null: skip (the attribute is left out, so a
// null never wipes a value) or send (nil). A column the row does not have is
// left out either way. An attribute map with nothing to send is nil.
//
// # Unavailable values
//
// PostgreSQL leaves unchanged TOASTed columns out of its change stream and
// Debezium puts the configured unavailable.value.placeholder there: as the
// string (text, jsonb), its base64 (bytea), a one-element list of either or
// of its name-based UUID (text[], bytea[], uuid[]), or the list of its bytes
// (int[]). Such an attribute is left out, never sent.
//
// # Unchanged updates
//
// An update (op u) is skipped (SkipUnchanged) when its before image is
// complete, holding every mapped column (id, attributes, group id) with none
// unavailable, and every one of those columns has the same JSON value in
// before and after. That needs REPLICA IDENTITY FULL in PostgreSQL
// (binlog_row_image=FULL in MySQL); a null before is never skipped. Nothing
// else is skipped for being unchanged.
//
// # Users and groups
//
// Object group gives Operation.Group. Object user gives Operation.User, and
// with groups one GroupRequest per group id (each with the groups
// attributes), with memberships one MembershipRequest per group id (the
// membership attributes, and the group with group_attributes). A null,
// missing or unavailable group id gives no list at all, so no membership is
// touched even with prune_memberships; an empty array gives an empty list,
// which with prune_memberships removes every membership. PruneMemberships is
// set only with a list. In mode update the Operation says so, and the
// consumer must check that the object exists.
//
// # Performance
//
// Values are parsed with fastjson, with parsers from a pool. The JSON
// converter repeats a table's schema, byte for byte, in every message: the
// Mapper remembers the schemas of recent messages (compiled for the mapped
// columns only) and parses just the payload of a message that starts with
// one of them. Measured with go test -bench . -benchmem -run '^$' ./mapping/
// on a shared 2-core AMD EPYC (details in docs/benchmarks.md), per core: a
// PostgreSQL update with schema (5.3 KB, 16 columns, 13 attributes and a
// group) about 194,000 events/s, or 46,000 when its schema is new; the same
// update without schema about 236,000; flattened about 170,000; a plain JSON
// row about 273,000.
package mapping
