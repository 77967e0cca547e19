package mapping

import (
	"bytes"
	"errors"

	"github.com/valyala/fastjson"
)

// colSchema is what a column's schema field says about reading its values.
type colSchema struct {
	name     string     // semantic name, "" for none
	scale    int        // org.apache.kafka.connect.data.Decimal's parameters.scale
	scaleErr error      // why scale could not be read
	items    *colSchema // an array's element schema
}

// semantic returns the semantic name; "" for a column without a schema.
func (c *colSchema) semantic() string {
	if c == nil {
		return ""
	}
	return c.name
}

// schemaInfo is a value schema compiled for one Mapper: the schema of each
// mapped column. It is immutable and shared by every message with the same
// schema.
type schemaInfo struct {
	cols []*colSchema // by column index; nil for a column the schema lacks
	err  error        // a *DecodeError when the schema has no usable row struct
}

func compileColumn(f *fastjson.Value) *colSchema {
	c := &colSchema{name: string(f.GetStringBytes("name"))}
	if c.name == connectDecimal {
		c.scale, c.scaleErr = decimalScale(f.Get("parameters", "scale"))
	}
	if items := f.Get("items"); items != nil && items.Type() == fastjson.TypeObject {
		c.items = compileColumn(items)
	}
	return c
}

// compileSchema compiles the schema of a message value: the envelope schema
// for format debezium (its after field, else its before field: the two are
// the same), else the row's struct schema. Only the row's fields array is
// walked, and only mapped columns are compiled.
func (m *Mapper) compileSchema(schema *fastjson.Value) *schemaInfo {
	info := &schemaInfo{cols: make([]*colSchema, len(m.columns))}
	row, where := schema, "schema"
	if m.format == FormatDebezium {
		row, where = nil, "schema.after"
		for _, f := range schema.GetArray("fields") {
			switch string(f.GetStringBytes("field")) {
			case "after":
				row = f
			case "before":
				if row == nil {
					row = f
				}
			}
		}
		if row == nil {
			info.err = &DecodeError{Field: "schema", Err: errors.New("want an envelope schema with an after or before field")}
			return info
		}
	}
	fields := row.Get("fields")
	if fields == nil || fields.Type() != fastjson.TypeArray {
		info.err = &DecodeError{Field: where, Err: errors.New("want a struct schema with fields")}
		return info
	}
	for _, f := range fields.GetArray() {
		if i, ok := m.colIndex[string(f.GetStringBytes("field"))]; ok && info.cols[i] == nil {
			info.cols[i] = compileColumn(f)
		}
	}
	return info
}

// The JSON converter writes a value as {"schema":S,"payload":P}, and S is the
// same for every message of a table until its schema changes. The Mapper
// remembers the bytes up to P of recent messages with their compiled
// schemas, so a message that starts with the same bytes is parsed without
// its schema: most of its bytes. Anything else takes the full parse, whose
// results the shortcut always equals.
const (
	wrapperStart     = `{"schema":`
	wrapperPayload   = `,"payload":`
	maxSchemasCached = 8
	maxSchemaCached  = 256 << 10 // bytes of one remembered prefix
)

// schemaEntry is one remembered schema.
type schemaEntry struct {
	prefix []byte // {"schema":S,"payload":
	info   *schemaInfo
}

// schemaCache holds the most recently learned schemas, newest first. It is
// replaced, never changed.
type schemaCache struct {
	entries []*schemaEntry
}

// cachedPayload returns the payload bytes of a wrapped value whose schema is
// remembered, with the compiled schema; nil when there is none.
func (m *Mapper) cachedPayload(value []byte) ([]byte, *schemaInfo) {
	c := m.schemas.Load()
	if c == nil {
		return nil, nil
	}
	body := bytes.TrimRight(value, " \t\r\n")
	if len(body) == 0 || body[len(body)-1] != '}' {
		return nil, nil
	}
	for _, e := range c.entries {
		if bytes.HasPrefix(body, e.prefix) {
			return body[len(e.prefix) : len(body)-1], e.info
		}
	}
	return nil, nil
}

// remember learns the schema of value, a wrapped value whose schema compiled
// to info, when value is in the converter's compact form.
func (m *Mapper) remember(value []byte, info *schemaInfo) {
	if !bytes.HasPrefix(value, []byte(wrapperStart)) {
		return
	}
	n, ok := skipObject(value[len(wrapperStart):])
	end := len(wrapperStart) + n
	if !ok || !bytes.HasPrefix(value[end:], []byte(wrapperPayload)) || end+len(wrapperPayload) > maxSchemaCached {
		return
	}
	entries := []*schemaEntry{{prefix: bytes.Clone(value[:end+len(wrapperPayload)]), info: info}}
	if old := m.schemas.Load(); old != nil {
		entries = append(entries, old.entries[:min(len(old.entries), maxSchemasCached-1)]...)
	}
	m.schemas.Store(&schemaCache{entries: entries})
}

// skipObject returns the length of the JSON object at the start of b, which
// fastjson has already accepted as part of a document.
func skipObject(b []byte) (int, bool) {
	if len(b) == 0 || b[0] != '{' {
		return 0, false
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// parse parses a message value into its payload and compiled schema
// (m.noSchema without one), through the schema cache when it can.
func (m *Mapper) parse(s *state, value []byte) (*fastjson.Value, *schemaInfo, error) {
	if payload, info := m.cachedPayload(value); info != nil {
		if v, err := s.value.ParseBytes(payload); err == nil {
			return v, info, nil
		}
	}
	v, err := s.value.ParseBytes(value)
	if err != nil {
		return nil, nil, &DecodeError{Field: "value", Err: err}
	}
	payload, schema := unwrap(v)
	if schema == nil {
		return payload, m.noSchema, nil
	}
	info := m.compileSchema(schema)
	m.remember(value, info)
	return payload, info, nil
}
