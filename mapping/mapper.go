package mapping

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// Message is one Kafka record as the mapping sees it. Its fields have the
// names and types of kafka-go's Message fields, so the consumer converts one
// without copying bytes.
type Message struct {
	Key     []byte
	Value   []byte // nil or empty: a tombstone
	Headers []Header
}

// Header is a Kafka record header, shaped like kafka-go's Header.
type Header struct {
	Key   string
	Value []byte
}

// Mapper maps the events of one sync to Operations. Build it with New. It is
// safe for concurrent use and immutable but for a cache of recently seen
// schemas, which never changes a result.
type Mapper struct {
	object   Object
	mode     Mode
	format   Format
	onDelete OnDelete
	prune    bool

	columns  []string       // every mapped column, once
	colIndex map[string]int // column -> index in columns
	id       int            // index of id_column
	group    int            // index of the group id column; -1 without groups or memberships

	memberships bool // the group id column feeds Memberships, not Groups
	attrs       []attr
	groupAttrs  []attr // groups.attributes or memberships.group_attributes
	memberAttrs []attr // memberships.attributes

	unavailable placeholder
	noSchema    *schemaInfo                 // for values without a schema
	schemas     atomic.Pointer[schemaCache] // recently seen schemas
	states      sync.Pool                   // *state
}

// attr is an attribute, compiled.
type attr struct {
	name string
	col  int // index in Mapper.columns
	typ  ValueType
	unit TimeUnit
	null NullPolicy
}

// state is the scratch space of one Map call. Values parsed by its parsers
// live until the parser parses again, so everything kept is copied out.
type state struct {
	value, key, text fastjson.Parser
	schema           *schemaInfo // the schema of the value being mapped
	buf, dec         []byte
}

// New validates cfg, applies its defaults and compiles it. The error is the
// one Validate returns.
func New(cfg Config) (*Mapper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	m := &Mapper{
		object:      c.Object,
		mode:        c.Mode,
		format:      c.Format,
		onDelete:    c.OnDelete,
		colIndex:    make(map[string]int),
		group:       -1,
		unavailable: newPlaceholder(c.UnavailablePlaceholder),
	}
	m.id = m.column(c.IDColumn)
	m.attrs = m.compile(c.Attributes)
	switch {
	case c.Groups != nil:
		m.group = m.column(c.Groups.GroupIDColumn)
		m.groupAttrs = m.compile(c.Groups.Attributes)
		m.prune = c.PruneMemberships
	case c.Memberships != nil:
		m.group = m.column(c.Memberships.GroupIDColumn)
		m.memberships = true
		m.memberAttrs = m.compile(c.Memberships.Attributes)
		m.groupAttrs = m.compile(c.Memberships.GroupAttributes)
		m.prune = c.PruneMemberships
	}
	m.noSchema = &schemaInfo{cols: make([]*colSchema, len(m.columns))}
	m.states.New = func() any { return new(state) }
	return m, nil
}

// column returns the index of col in m.columns, adding it if new.
func (m *Mapper) column(col string) int {
	if i, ok := m.colIndex[col]; ok {
		return i
	}
	m.colIndex[col] = len(m.columns)
	m.columns = append(m.columns, col)
	return len(m.columns) - 1
}

// compile turns specs into attrs, sorted by name so that errors are stable.
func (m *Mapper) compile(specs map[string]AttributeSpec) []attr {
	attrs := make([]attr, 0, len(specs))
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		s := specs[name]
		a := attr{name: name, col: m.column(s.Column), typ: s.Type, unit: s.Unit, null: s.Null}
		if a.unit == "" {
			a.unit = UnitMillis
		}
		if a.null == "" {
			a.null = NullSkip
		}
		attrs = append(attrs, a)
	}
	return attrs
}

// Map maps one message. It never panics and never keeps msg's bytes; an
// error is a *DecodeError or a *MappingError, and permanent.
func (m *Mapper) Map(msg Message) (Operation, error) {
	s := m.states.Get().(*state)
	defer m.states.Put(s)
	op, err := m.mapMessage(s, msg)
	if err != nil {
		return Operation{}, err
	}
	return op, nil
}

func (m *Mapper) mapMessage(s *state, msg Message) (Operation, error) {
	if len(bytes.TrimSpace(msg.Value)) == 0 {
		return m.tombstone(s, msg.Key), nil
	}
	payload, schema, err := m.parse(s, msg.Value)
	if err != nil {
		return Operation{}, err
	}
	s.schema = schema
	switch payload.Type() {
	case fastjson.TypeNull:
		return m.tombstone(s, msg.Key), nil
	case fastjson.TypeObject:
	default:
		return Operation{}, &DecodeError{Field: "value", Err: fmt.Errorf("want a JSON object, got %s", payload.Type())}
	}
	if m.format == FormatDebezium {
		return m.envelope(s, msg, payload)
	}
	return m.row(s, msg, payload)
}

// skip returns a skip for the reason, with what is known of the event.
func (m *Mapper) skip(reason SkipReason, id string, src time.Time) Operation {
	return Operation{Action: ActionSkip, Skip: reason, Object: m.object, Mode: m.mode, ID: id, SourceTime: src}
}

// tombstone maps a null value: a delete of the object whose id the key holds.
func (m *Mapper) tombstone(s *state, key []byte) Operation {
	id, ok := m.keyID(s, key)
	switch {
	case m.onDelete == OnDeleteIgnore:
		return m.skip(SkipDeleteIgnored, id, time.Time{})
	case !ok:
		return m.skip(SkipTombstoneNoKey, "", time.Time{})
	}
	return Operation{Action: ActionDelete, Object: m.object, Mode: m.mode, ID: id, Tombstone: true}
}

// remove maps a deleted row, before (nil when the event has none): its id
// comes from before, else from the key. With on_delete: ignore it is a skip, with the id when one is found.
func (m *Mapper) remove(s *state, key []byte, before *fastjson.Value, where string, src time.Time) (Operation, error) {
	col := m.columns[m.id]
	id, err := m.idOf(s, before.Get(col))
	if err != nil {
		if keyID, ok := m.keyID(s, key); ok {
			id, err = keyID, nil
		} else {
			id, err = "", &MappingError{Field: where + "." + col, Column: col, Err: fmt.Errorf("id: %w, and the key holds none", err)}
		}
	}
	if m.onDelete == OnDeleteIgnore {
		return m.skip(SkipDeleteIgnored, id, src), nil
	}
	if err != nil {
		return Operation{}, err
	}
	return Operation{Action: ActionDelete, Object: m.object, Mode: m.mode, ID: id, SourceTime: src}, nil
}

// upsert maps a row that exists after the change.
func (m *Mapper) upsert(s *state, row *fastjson.Value, where string, src time.Time) (Operation, error) {
	id, err := m.rowID(s, row, where)
	if err != nil {
		return Operation{}, err
	}
	attrs, err := m.attributes(s, m.attrs, row, where)
	if err != nil {
		return Operation{}, err
	}
	op := Operation{Action: ActionUpsert, Object: m.object, Mode: m.mode, ID: id, SourceTime: src}
	if m.object == ObjectGroup {
		op.Group = &userflow.GroupRequest{ID: id, Attributes: attrs}
		return op, nil
	}
	u := &userflow.UpsertUserRequest{ID: id, Attributes: attrs}
	op.User = u
	if m.group < 0 {
		return op, nil
	}
	ids, err := m.groupIDs(s, row, where)
	if err != nil {
		return Operation{}, err
	}
	if ids == nil {
		return op, nil
	}
	groupAttrs, err := m.attributes(s, m.groupAttrs, row, where)
	if err != nil {
		return Operation{}, err
	}
	u.PruneMemberships = m.prune
	if !m.memberships {
		u.Groups = make([]userflow.GroupRequest, len(ids))
		for i, gid := range ids {
			u.Groups[i] = userflow.GroupRequest{ID: gid, Attributes: cloneAttrs(groupAttrs, i)}
		}
		return op, nil
	}
	memberAttrs, err := m.attributes(s, m.memberAttrs, row, where)
	if err != nil {
		return Operation{}, err
	}
	u.Memberships = make([]userflow.MembershipRequest, len(ids))
	for i, gid := range ids {
		u.Memberships[i] = userflow.MembershipRequest{
			Attributes: cloneAttrs(memberAttrs, i),
			Group:      userflow.GroupRequest{ID: gid, Attributes: cloneAttrs(groupAttrs, i)},
		}
	}
	return op, nil
}

// cloneAttrs gives the i-th list entry its own map, so no two entries share
// one that a later stage might merge into.
func cloneAttrs(a userflow.Attributes, i int) userflow.Attributes {
	if i == 0 {
		return a
	}
	return maps.Clone(a)
}

// rowID reads the id column of row.
func (m *Mapper) rowID(s *state, row *fastjson.Value, where string) (string, error) {
	col := m.columns[m.id]
	id, err := m.idOf(s, row.Get(col))
	if err != nil {
		return "", &MappingError{Field: where + "." + col, Column: col, Err: fmt.Errorf("id: %w", err)}
	}
	return id, nil
}

// groupIDs reads the group id column: one id or a list of ids, deduplicated.
// nil means no list (the column is null, absent or unavailable), so no
// membership is touched; an empty array gives an empty, non-nil list.
func (m *Mapper) groupIDs(s *state, row *fastjson.Value, where string) ([]string, error) {
	col := m.columns[m.group]
	v := row.Get(col)
	if v == nil || v.Type() == fastjson.TypeNull || m.unavailable.is(s, v) {
		return nil, nil
	}
	elems := []*fastjson.Value{v}
	if v.Type() == fastjson.TypeArray {
		elems = v.GetArray()
	}
	ids := make([]string, 0, len(elems))
	for _, e := range elems {
		id, err := m.idOf(s, e)
		if err != nil {
			return nil, &MappingError{Field: where + "." + col, Column: col, Err: fmt.Errorf("group id: %w", err)}
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// attributes converts the attrs of row. The map is nil when no attribute has
// a value to send.
func (m *Mapper) attributes(s *state, attrs []attr, row *fastjson.Value, where string) (userflow.Attributes, error) {
	var out userflow.Attributes
	for i := range attrs {
		a := &attrs[i]
		col := m.columns[a.col]
		val, ok, err := m.convert(s, a, row.Get(col), s.schema.cols[a.col])
		if err != nil {
			return nil, &MappingError{Field: where + "." + col, Column: col, Err: err}
		}
		if !ok {
			continue
		}
		if out == nil {
			out = make(userflow.Attributes, len(attrs))
		}
		out[a.name] = val
	}
	return out, nil
}

// unchanged reports whether an update changed no mapped column: before is a
// complete image (it holds every mapped column, none unavailable) and each
// column's JSON value is the same in before and after.
func (m *Mapper) unchanged(s *state, before, after *fastjson.Value) bool {
	for _, col := range m.columns {
		b, a := before.Get(col), after.Get(col)
		if b == nil || a == nil || m.unavailable.is(s, b) || !equalJSON(s, a, b) {
			return false
		}
	}
	return true
}
