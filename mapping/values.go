package mapping

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Semantic type names (a schema field's "name") that change how a value is
// read. Other names (io.debezium.data.Uuid, Enum, EnumSet, Xml, ...) are read
// by their JSON type.
const (
	debeziumDate                 = "io.debezium.time.Date"
	debeziumTime                 = "io.debezium.time.Time"
	debeziumMicroTime            = "io.debezium.time.MicroTime"
	debeziumNanoTime             = "io.debezium.time.NanoTime"
	debeziumTimestamp            = "io.debezium.time.Timestamp"
	debeziumMicroTimestamp       = "io.debezium.time.MicroTimestamp"
	debeziumNanoTimestamp        = "io.debezium.time.NanoTimestamp"
	debeziumZonedTimestamp       = "io.debezium.time.ZonedTimestamp"
	debeziumZonedTime            = "io.debezium.time.ZonedTime"
	debeziumVariableScaleDecimal = "io.debezium.data.VariableScaleDecimal"
	debeziumJSON                 = "io.debezium.data.Json"
	connectDate                  = "org.apache.kafka.connect.data.Date"
	connectTime                  = "org.apache.kafka.connect.data.Time"
	connectTimestamp             = "org.apache.kafka.connect.data.Timestamp"
	connectDecimal               = "org.apache.kafka.connect.data.Decimal"
)

// Limits that keep hostile input from costing unbounded memory or time.
const (
	maxDecimalBytes = 4096  // unscaled bytes of a decimal: ~9,800 digits
	maxDecimalScale = 16383 // PostgreSQL's largest numeric scale
	maxDescribe     = 40    // bytes of a value quoted in an error
)

func isDatetimeName(name string) bool {
	switch name {
	case debeziumDate, debeziumTimestamp, debeziumMicroTimestamp, debeziumNanoTimestamp,
		debeziumZonedTimestamp, connectDate, connectTimestamp:
		return true
	}
	return false
}

func isTimeOfDayName(name string) bool {
	switch name {
	case debeziumTime, debeziumMicroTime, debeziumNanoTime, debeziumZonedTime, connectTime:
		return true
	}
	return false
}

// convert turns the value v of attribute a's column, described by cs (nil
// without a schema), into an attribute value. ok is false when
// the attribute is left out: the column is absent, holds the unavailable
// placeholder, or is null under null: skip.
func (m *Mapper) convert(s *state, a *attr, v *fastjson.Value, cs *colSchema) (val any, ok bool, err error) {
	if v == nil || m.unavailable.is(s, v) {
		return nil, false, nil
	}
	val, err = m.natural(s, v, cs, a.typ != TypeAuto)
	if err == nil && val != nil && a.typ != TypeAuto {
		val, err = m.coerce(s, a, val, cs.semantic())
	}
	if err != nil {
		return nil, false, err
	}
	if val == nil {
		return nil, a.null == NullSend, nil
	}
	return val, true, nil
}

// natural reads v the way its semantic name says, or else by its JSON type.
// The result is a string, json.Number, bool, []any of literals, or nil for
// null. Datetimes come out as RFC 3339 UTC strings, times of day as
// "15:04:05.999999999". jsonText keeps io.debezium.data.Json as its text,
// for an explicit type to work on.
func (m *Mapper) natural(s *state, v *fastjson.Value, cs *colSchema, jsonText bool) (any, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	switch name := cs.semantic(); name {
	case debeziumDate, connectDate:
		days, err := integer(v, name)
		if err != nil {
			return nil, err
		}
		if days > math.MaxInt32 || days < math.MinInt32 {
			return nil, fmt.Errorf("%s: %d days is out of range", name, days)
		}
		return formatDatetime(time.Unix(days*86400, 0))
	case debeziumTime, connectTime:
		return timeOfDay(v, name, int64(time.Millisecond))
	case debeziumMicroTime:
		return timeOfDay(v, name, int64(time.Microsecond))
	case debeziumNanoTime:
		return timeOfDay(v, name, 1)
	case debeziumTimestamp, connectTimestamp:
		return epochValue(v, name, int64(time.Millisecond))
	case debeziumMicroTimestamp:
		return epochValue(v, name, int64(time.Microsecond))
	case debeziumNanoTimestamp:
		return epochValue(v, name, 1)
	case debeziumZonedTimestamp:
		t, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes()))
		if err != nil {
			return nil, fmt.Errorf("%s: want an ISO 8601 string, got %s", name, describe(v))
		}
		return formatDatetime(t)
	case connectDecimal:
		return decimalValue(s, v, cs)
	case debeziumVariableScaleDecimal:
		return variableScaleDecimal(s, v)
	case debeziumJSON:
		if !jsonText {
			return m.jsonDocument(s, v)
		}
	}
	return m.plain(s, v, cs)
}

// plain reads v by its JSON type: a string, a number (json.Number), a bool, an
// array (a list of literals, each read by the schema's items), or an object
// (its compact JSON text).
func (m *Mapper) plain(s *state, v *fastjson.Value, cs *colSchema) (any, error) {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes()), nil
	case fastjson.TypeNumber:
		return number(s, v)
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeArray:
		return m.list(s, v, cs)
	case fastjson.TypeObject:
		return string(v.MarshalTo(nil)), nil
	}
	return nil, nil
}

// list reads an array as a list of literals. Null elements are dropped;
// nested arrays and objects are an error.
func (m *Mapper) list(s *state, v *fastjson.Value, cs *colSchema) (any, error) {
	var items *colSchema
	if cs != nil {
		items = cs.items
	}
	name := items.semantic()
	elems := v.GetArray()
	out := make([]any, 0, len(elems))
	for i, e := range elems {
		switch t := e.Type(); {
		case t == fastjson.TypeArray, t == fastjson.TypeObject && name != debeziumVariableScaleDecimal:
			return nil, fmt.Errorf("list: element %d is not a literal: %s", i, describe(e))
		}
		x, err := m.natural(s, e, items, false)
		if err != nil {
			return nil, fmt.Errorf("list: element %d: %w", i, err)
		}
		if _, nested := x.([]any); nested {
			return nil, fmt.Errorf("list: element %d is not a literal: %s", i, describe(e))
		}
		if x != nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// jsonDocument reads io.debezium.data.Json text: an array becomes a list of
// literals, a scalar that scalar, an object its compact JSON text.
func (m *Mapper) jsonDocument(s *state, v *fastjson.Value) (any, error) {
	b, err := v.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("%s: want JSON text, got %s", debeziumJSON, describe(v))
	}
	doc, err := s.text.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", debeziumJSON, err)
	}
	return m.plain(s, doc, nil)
}

// coerce converts a natural value to the attribute's explicit type. name is
// the column's semantic name.
func (m *Mapper) coerce(s *state, a *attr, x any, name string) (any, error) {
	switch a.typ {
	case TypeString:
		switch x := x.(type) {
		case string:
			return x, nil
		case json.Number:
			return string(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, fmt.Errorf("string: want a scalar, got %s", describeAny(x))
	case TypeNumber:
		switch x := x.(type) {
		case json.Number:
			return x, nil
		case string:
			if t := strings.TrimSpace(x); isJSONNumber(t) {
				return json.Number(t), nil
			}
		}
		return nil, fmt.Errorf("number: want a number or numeric string, got %s", describeAny(x))
	case TypeBoolean:
		switch x := x.(type) {
		case bool:
			return x, nil
		case string:
			switch {
			case strings.EqualFold(x, "true"):
				return true, nil
			case strings.EqualFold(x, "false"):
				return false, nil
			}
		case json.Number:
			switch x {
			case "1":
				return true, nil
			case "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("boolean: want a boolean, \"true\", \"false\", 0 or 1, got %s", describeAny(x))
	case TypeDatetime:
		if isDatetimeName(name) {
			return x, nil
		}
		if isTimeOfDayName(name) {
			return nil, fmt.Errorf("datetime: %s is a time of day, not a datetime", name)
		}
		switch x := x.(type) {
		case string:
			t, err := parseDatetime(x)
			if err != nil {
				return nil, err
			}
			return formatDatetime(t)
		case json.Number:
			t, err := epochText(string(x), a.unit)
			if err != nil {
				return nil, err
			}
			return formatDatetime(t)
		}
		return nil, fmt.Errorf("datetime: want ISO 8601 string or epoch number, got %s", describeAny(x))
	case TypeList:
		switch x := x.(type) {
		case []any:
			return x, nil
		case string:
			doc, err := s.text.Parse(x)
			if err == nil && doc.Type() == fastjson.TypeArray {
				return m.list(s, doc, nil)
			}
		}
		return nil, fmt.Errorf("list: want an array or the JSON text of one, got %s", describeAny(x))
	}
	return x, nil
}

// integer reads an integer number.
func integer(v *fastjson.Value, name string) (int64, error) {
	n, err := v.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %s", name, describe(v))
	}
	return n, nil
}

// number returns a JSON number's exact text, checked against JSON's grammar
// (fastjson also accepts NaN, Inf and malformed numbers).
func number(s *state, v *fastjson.Value) (json.Number, error) {
	s.buf = v.MarshalTo(s.buf[:0])
	if !isJSONNumber(string(s.buf)) {
		return "", fmt.Errorf("invalid number %s", describe(v))
	}
	return json.Number(s.buf), nil
}

// isJSONNumber reports whether t is a number in JSON's grammar.
func isJSONNumber(t string) bool {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	switch {
	case i < len(t) && t[i] == '0':
		i++
	case i < len(t) && t[i] >= '1' && t[i] <= '9':
		i = skipDigits(t, i)
	default:
		return false
	}
	if i < len(t) && t[i] == '.' {
		j := skipDigits(t, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		j := skipDigits(t, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(t)
}

// isInteger reports whether t is an integer in JSON's grammar.
func isInteger(t string) bool {
	return isJSONNumber(t) && !strings.ContainsAny(t, ".eE")
}

func skipDigits(t string, i int) int {
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i
}

// formatDatetime writes t as RFC 3339 in UTC, with fractional seconds only
// as needed. Years outside 0000-9999 cannot be written in RFC 3339.
func formatDatetime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("datetime out of range (year %d)", y)
	}
	return t.Format(time.RFC3339Nano), nil
}

// datetimeLayouts are the ISO 8601 forms read without a schema. A datetime
// without an offset is UTC; fractional seconds are always accepted.
var datetimeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z07",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

func parseDatetime(x string) (time.Time, error) {
	for _, layout := range datetimeLayouts {
		if t, err := time.Parse(layout, x); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("datetime: want ISO 8601 string or epoch number, got %s", describeAny(x))
}

// epochValue reads an integer count of unit (in nanoseconds) since the epoch.
func epochValue(v *fastjson.Value, name string, unit int64) (any, error) {
	n, err := integer(v, name)
	if err != nil {
		return nil, err
	}
	return formatDatetime(epoch(n, unit))
}

func epoch(n, unit int64) time.Time {
	perSecond := int64(time.Second) / unit
	return time.Unix(n/perSecond, n%perSecond*unit)
}

var unitNanos = map[TimeUnit]int64{
	UnitSeconds: int64(time.Second),
	UnitMillis:  int64(time.Millisecond),
	UnitMicros:  int64(time.Microsecond),
	UnitNanos:   1,
}

// maxEpochSeconds bounds epoch numbers well past year 9999, so the
// conversion cannot overflow; formatDatetime rejects what lies between.
const maxEpochSeconds = 1e12

// epochText reads a JSON number (integer, or with a fraction or exponent,
// then rounded to the microsecond) counting unit since the epoch.
func epochText(num string, unit TimeUnit) (time.Time, error) {
	ns := unitNanos[unit]
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		return epoch(n, ns), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	sec := f * float64(ns) / float64(time.Second)
	if err != nil || math.IsNaN(sec) || math.Abs(sec) > maxEpochSeconds {
		return time.Time{}, fmt.Errorf("datetime: epoch %s %s is out of range", num, unit)
	}
	whole := math.Floor(sec)
	micros := math.Round((sec - whole) * 1e6)
	return time.Unix(int64(whole), int64(micros)*int64(time.Microsecond)), nil
}

// timeOfDay reads an integer count of unit (in nanoseconds) since midnight
// as "15:04:05", with a fraction only as needed. PostgreSQL's 24:00:00 is
// kept.
func timeOfDay(v *fastjson.Value, name string, unit int64) (any, error) {
	n, err := integer(v, name)
	if err != nil {
		return nil, err
	}
	const day = int64(24 * time.Hour)
	if n < 0 || n > day/unit {
		return nil, fmt.Errorf("%s: %d is not a time of day", name, n)
	}
	ns := n * unit
	b := make([]byte, 0, len("15:04:05.999999999"))
	b = appendTwo(b, ns/int64(time.Hour))
	b = append(b, ':')
	b = appendTwo(b, ns/int64(time.Minute)%60)
	b = append(b, ':')
	b = appendTwo(b, ns/int64(time.Second)%60)
	if frac := ns % int64(time.Second); frac != 0 {
		digits := strconv.FormatInt(frac+int64(time.Second), 10)[1:] // 9 digits, zero-padded
		b = append(b, '.')
		b = append(b, strings.TrimRight(digits, "0")...)
	}
	return string(b), nil
}

func appendTwo(b []byte, n int64) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// decimalValue reads org.apache.kafka.connect.data.Decimal: base64 of the
// big-endian two's-complement unscaled value, scaled by the schema's
// parameters.scale; or a plain number (the JSON converter's
// decimal.format=NUMERIC).
func decimalValue(s *state, v *fastjson.Value, cs *colSchema) (any, error) {
	if v.Type() == fastjson.TypeNumber {
		return number(s, v)
	}
	b, err := v.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("%s: want base64 bytes or a number, got %s", connectDecimal, describe(v))
	}
	if cs.scaleErr != nil {
		return nil, fmt.Errorf("%s: schema parameters.scale: %w", connectDecimal, cs.scaleErr)
	}
	return unscaledDecimal(s, b, cs.scale)
}

func decimalScale(v *fastjson.Value) (int, error) {
	if v == nil {
		return 0, errors.New("missing")
	}
	if b, err := v.StringBytes(); err == nil {
		return strconv.Atoi(string(b))
	}
	return v.Int()
}

// variableScaleDecimal reads io.debezium.data.VariableScaleDecimal:
// {"scale": n, "value": base64 unscaled}.
func variableScaleDecimal(s *state, v *fastjson.Value) (any, error) {
	sv, bv := v.Get("scale"), v.Get("value")
	if sv != nil && bv != nil {
		scale, err := sv.Int()
		b, err2 := bv.StringBytes()
		if err == nil && err2 == nil {
			return unscaledDecimal(s, b, scale)
		}
	}
	return nil, fmt.Errorf("%s: want {\"scale\": n, \"value\": base64}, got %s", debeziumVariableScaleDecimal, describe(v))
}

// unscaledDecimal decodes base64 two's-complement bytes and writes the exact
// decimal text: 0.10 stays 0.10.
func unscaledDecimal(s *state, b64 []byte, scale int) (any, error) {
	n := base64.StdEncoding.DecodedLen(len(b64))
	if n > maxDecimalBytes || scale > maxDecimalScale || scale < -maxDecimalScale {
		return nil, errors.New("decimal: too large")
	}
	if cap(s.dec) < n {
		s.dec = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(s.dec[:n], b64)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("decimal: want base64 bytes, got %q", truncate(string(b64)))
	}
	b := s.dec[:n]
	neg := b[0]&0x80 != 0
	var digits string
	if len(b) <= 8 {
		u := uint64(int64(int8(b[0])))
		for _, c := range b[1:] {
			u = u<<8 | uint64(c)
		}
		if neg {
			u = -u
		}
		digits = strconv.FormatUint(u, 10)
	} else {
		x := new(big.Int).SetBytes(b)
		if neg {
			x.Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))), x)
		}
		digits = x.String()
	}
	var t strings.Builder
	t.Grow(len(digits) + max(scale, -scale) + 3)
	if neg {
		t.WriteByte('-')
	}
	switch {
	case scale <= 0:
		t.WriteString(digits)
		if digits != "0" {
			t.WriteString(strings.Repeat("0", -scale))
		}
	case len(digits) > scale:
		t.WriteString(digits[:len(digits)-scale])
		t.WriteByte('.')
		t.WriteString(digits[len(digits)-scale:])
	default:
		t.WriteString("0.")
		t.WriteString(strings.Repeat("0", scale-len(digits)))
		t.WriteString(digits)
	}
	return json.Number(t.String()), nil
}

// placeholder recognises the connector's unavailable.value.placeholder in the
// forms Debezium puts it in a column: the string (text, jsonb), its base64
// (bytea), a one-element list of the string, its base64 or its name-based
// UUID (text[], bytea[], uuid[]), and a list of its bytes as numbers (int[]).
type placeholder struct {
	text, base64, uuid string
	bytes              []string // decimal text of each byte
}

func newPlaceholder(text string) placeholder {
	p := placeholder{text: text, base64: base64.StdEncoding.EncodeToString([]byte(text))}
	// Java's UUID.nameUUIDFromBytes: MD5, version 3, IETF variant.
	h := md5.Sum([]byte(text))
	h[6] = h[6]&0x0f | 0x30
	h[8] = h[8]&0x3f | 0x80
	x := fmt.Sprintf("%x", h)
	p.uuid = x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
	for _, c := range []byte(text) {
		p.bytes = append(p.bytes, strconv.Itoa(int(c)))
	}
	return p
}

func (p *placeholder) is(s *state, v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeString:
		b := v.GetStringBytes()
		return string(b) == p.text || string(b) == p.base64
	case fastjson.TypeArray:
		elems := v.GetArray()
		if len(elems) == 1 && elems[0].Type() == fastjson.TypeString {
			b := elems[0].GetStringBytes()
			return string(b) == p.text || string(b) == p.base64 || string(b) == p.uuid
		}
		if len(elems) != len(p.bytes) || len(elems) == 0 {
			return false
		}
		for i, e := range elems {
			if e.Type() != fastjson.TypeNumber {
				return false
			}
			if s.buf = e.MarshalTo(s.buf[:0]); string(s.buf) != p.bytes[i] {
				return false
			}
		}
		return true
	}
	return false
}

// idOf reads an id: a non-empty string (not the placeholder) or an integer,
// whose exact digits become the id.
func (m *Mapper) idOf(s *state, v *fastjson.Value) (string, error) {
	if v == nil {
		return "", errors.New("missing")
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "", errors.New("null")
	case fastjson.TypeString:
		b := v.GetStringBytes()
		switch {
		case len(b) == 0:
			return "", errors.New("empty string")
		case m.unavailable.is(s, v):
			return "", errors.New("unavailable value placeholder")
		case !utf8.Valid(b):
			return "", errors.New("invalid UTF-8")
		}
		return string(b), nil
	case fastjson.TypeNumber:
		if s.buf = v.MarshalTo(s.buf[:0]); isInteger(string(s.buf)) {
			return string(s.buf), nil
		}
	}
	return "", fmt.Errorf("want a string or an integer, got %s", describe(v))
}

// equalJSON reports whether a and b are the same JSON value: same type, same
// string, same number text, equal elements and members.
func equalJSON(s *state, a, b *fastjson.Value) bool {
	t := a.Type()
	if t != b.Type() {
		return false
	}
	switch t {
	case fastjson.TypeString:
		return string(a.GetStringBytes()) == string(b.GetStringBytes())
	case fastjson.TypeNumber:
		s.buf = a.MarshalTo(s.buf[:0])
		n := len(s.buf)
		s.buf = b.MarshalTo(s.buf)
		return string(s.buf[:n]) == string(s.buf[n:])
	case fastjson.TypeArray:
		x, y := a.GetArray(), b.GetArray()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(s, x[i], y[i]) {
				return false
			}
		}
	case fastjson.TypeObject:
		x, y := a.GetObject(), b.GetObject()
		if x.Len() != y.Len() {
			return false
		}
		equal := true
		x.Visit(func(key []byte, v *fastjson.Value) {
			if w := y.Get(string(key)); equal && (w == nil || !equalJSON(s, v, w)) {
				equal = false
			}
		})
		return equal
	}
	return true
}

// describe renders a JSON value for an error message, shortened.
func describe(v *fastjson.Value) string {
	return truncate(string(v.MarshalTo(nil)))
}

// describeAny renders a natural value for an error message, shortened.
func describeAny(x any) string {
	switch x := x.(type) {
	case string:
		return strconv.Quote(truncate(x))
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return truncate(fmt.Sprint(x))
}

func truncate(t string) string {
	if len(t) <= maxDescribe {
		return t
	}
	i := maxDescribe
	for i > 0 && !utf8.RuneStart(t[i]) {
		i--
	}
	return t[:i] + "..."
}
