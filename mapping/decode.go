package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// unwrap returns the payload and schema of the JSON converter's
// {"schema": ..., "payload": ...} wrapper (schema nil when it is null), or v
// itself and nil when v is not such a wrapper: an object of exactly those two
// keys whose schema is an object or null.
func unwrap(v *fastjson.Value) (payload, schema *fastjson.Value) {
	o, err := v.Object()
	if err != nil || o.Len() != 2 {
		return v, nil
	}
	schema, payload = o.Get("schema"), o.Get("payload")
	if schema == nil || payload == nil {
		return v, nil
	}
	switch schema.Type() {
	case fastjson.TypeObject:
		return payload, schema
	case fastjson.TypeNull:
		return payload, nil
	}
	return v, nil
}

// envelope maps a Debezium change event envelope.
func (m *Mapper) envelope(s *state, msg Message, env *fastjson.Value) (Operation, error) {
	opv := env.Get("op")
	if opv == nil {
		return Operation{}, &DecodeError{Field: "op", Err: errors.New("missing: not a Debezium envelope (flattened rows need format debezium-flat)")}
	}
	op, err := opv.StringBytes()
	if err != nil {
		return Operation{}, &DecodeError{Field: "op", Err: fmt.Errorf("want a string, got %s", describe(opv))}
	}
	src := sourceTime(env.Get("source", "ts_ms"))
	switch string(op) {
	case "c", "r", "u", "d":
	case "t":
		return m.skip(SkipTruncate, "", src), nil
	case "m":
		return m.skip(SkipMessage, "", src), nil
	default:
		return Operation{}, &MappingError{Field: "op", Err: fmt.Errorf("unknown op %q", truncate(string(op)))}
	}
	if s.schema.err != nil {
		return Operation{}, s.schema.err
	}
	before := env.Get("before")
	if before != nil && before.Type() != fastjson.TypeObject {
		before = nil
	}
	if string(op) == "d" {
		return m.remove(s, msg.Key, before, "before", src)
	}
	after := env.Get("after")
	if after == nil || after.Type() != fastjson.TypeObject {
		return Operation{}, &DecodeError{Field: "after", Err: fmt.Errorf("want an object for op %q, got %s", op, kindOf(after))}
	}
	if string(op) == "u" && before != nil && m.unchanged(s, before, after) {
		id, err := m.rowID(s, after, "after")
		if err != nil {
			return Operation{}, err
		}
		return m.skip(SkipUnchanged, id, src), nil
	}
	return m.upsert(s, after, "after", src)
}

// row maps a flattened (debezium-flat) or plain (json) row.
func (m *Mapper) row(s *state, msg Message, row *fastjson.Value) (Operation, error) {
	if s.schema.err != nil {
		return Operation{}, s.schema.err
	}
	if m.format == FormatJSON {
		return m.upsert(s, row, "value", time.Time{})
	}
	src := sourceTime(row.Get("__source_ts_ms"))
	if src.IsZero() {
		src = headerSourceTime(msg.Headers)
	}
	deleted, err := flatDeleted(row.Get("__deleted"))
	if err != nil {
		return Operation{}, err
	}
	op, err := flatOp(row.Get("__op"), msg.Headers)
	if err != nil {
		return Operation{}, err
	}
	switch {
	case deleted || op == "d":
		return m.remove(s, msg.Key, row, "value", src)
	case op == "t":
		return m.skip(SkipTruncate, "", src), nil
	case op == "m":
		return m.skip(SkipMessage, "", src), nil
	}
	return m.upsert(s, row, "value", src)
}

// flatDeleted reads a flattened row's __deleted (delete.handling.mode=rewrite):
// "true" or true for a deleted row; "false", false, null or none otherwise.
func flatDeleted(v *fastjson.Value) (bool, error) {
	if v == nil {
		return false, nil
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse, fastjson.TypeNull:
		return false, nil
	case fastjson.TypeString:
		switch string(v.GetStringBytes()) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, &MappingError{Field: "value.__deleted", Err: fmt.Errorf("want \"true\" or \"false\", got %s", describe(v))}
}

// flatOp returns a flattened row's op: its __op field (add.fields=op), else
// its __op header (add.headers=op); "" when neither is there or it is empty.
// An unknown op is an error.
func flatOp(v *fastjson.Value, headers []Header) (string, error) {
	var op string
	switch {
	case v != nil && v.Type() == fastjson.TypeString:
		op = string(v.GetStringBytes())
	case v != nil && v.Type() != fastjson.TypeNull:
		return "", &MappingError{Field: "value.__op", Err: fmt.Errorf("want a string, got %s", describe(v))}
	default:
		h := header(headers, "__op")
		if h == nil {
			return "", nil
		}
		op = string(unquote(h))
	}
	switch op {
	case "", "c", "r", "u", "d", "t", "m":
		return op, nil
	}
	return "", &MappingError{Field: "value.__op", Err: fmt.Errorf("unknown op %q", truncate(op))}
}

// header returns the value of the last header named key, nil if none.
func header(headers []Header, key string) []byte {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == key {
			return headers[i].Value
		}
	}
	return nil
}

// unquote strips the quotes a JSON header converter puts around a string
// (Kafka Connect's default SimpleHeaderConverter writes it bare).
func unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

// sourceTime reads a milliseconds-since-epoch number; the zero time when it
// is missing or not an integer.
func sourceTime(v *fastjson.Value) time.Time {
	if v == nil {
		return time.Time{}
	}
	ms, err := v.Int64()
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// headerSourceTime reads the __source_ts_ms header (add.headers=source.ts_ms).
func headerSourceTime(headers []Header) time.Time {
	h := header(headers, "__source_ts_ms")
	if h == nil {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(string(unquote(h)), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// keyID reads an id from a Kafka key: a JSON object (with or without the
// schema wrapper) holding id_column, a JSON string or integer, or a key that
// is not JSON at all, taken whole when it is printable UTF-8. ok is false
// when the key holds no usable id.
func (m *Mapper) keyID(s *state, key []byte) (id string, ok bool) {
	if len(bytes.TrimSpace(key)) == 0 {
		return "", false
	}
	v, err := s.key.ParseBytes(key)
	if err != nil {
		if !printable(key) {
			return "", false
		}
		return string(key), true
	}
	v, _ = unwrap(v)
	if v.Type() == fastjson.TypeObject {
		v = v.Get(m.columns[m.id])
	}
	if id, err = m.idOf(s, v); err != nil {
		return "", false
	}
	return id, true
}

// printable reports whether b is valid UTF-8 without control characters.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// kindOf names the JSON type of v, "nothing" when v is missing.
func kindOf(v *fastjson.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
