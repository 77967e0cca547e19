package mapping

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mapValue maps {"id":1,"v":<raw>} as a json-format group row with attribute
// v read as spec (its column is v), with a one-field schema when
// fieldSchema is not empty, and returns v's value.
func mapValue(t *testing.T, spec AttributeSpec, fieldSchema, raw string) (any, bool, error) {
	t.Helper()
	spec.Column = "v"
	m, err := New(Config{Format: FormatJSON, Object: ObjectGroup, IDColumn: "id", Attributes: map[string]AttributeSpec{"v": spec}})
	if err != nil {
		t.Fatal(err)
	}
	value := `{"id":1,"v":` + raw + `}`
	if fieldSchema != "" {
		value = `{"schema":{"type":"struct","fields":[` + fieldSchema + `]},"payload":` + value + `}`
	}
	op, err := m.Map(Message{Value: []byte(value)})
	checkOperation(t, op, err)
	if err != nil {
		return nil, false, err
	}
	v, ok := op.Group.Attributes["v"]
	return v, ok, nil
}

type valueCase struct {
	name   string
	spec   AttributeSpec
	schema string
	raw    string
	want   any    // when wantOK
	absent bool   // the attribute is left out
	err    string // the MappingError's message
}

func runValueCases(t *testing.T, cases []valueCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := mapValue(t, c.spec, c.schema, c.raw)
			switch {
			case c.err != "":
				if err == nil || err.Error() != "mapping: value.v: "+c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
			case err != nil:
				t.Fatal(err)
			case c.absent:
				if ok {
					t.Fatalf("got %#v, want the attribute left out", got)
				}
			case !ok:
				t.Fatalf("attribute left out, want %#v", c.want)
			default:
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("value (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func decimalSchema(scale string) string {
	return `{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"` + scale + `"},"field":"v"}`
}

func b64(b ...byte) string { return `"` + base64.StdEncoding.EncodeToString(b) + `"` }

func TestDecimals(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	hugeBytes := new(big.Int).Add(huge, new(big.Int).Lsh(big.NewInt(1), 13*8)).Bytes() // 13-byte two's complement
	const vsd = `{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"field":"v"}`
	runValueCases(t, []valueCase{
		{name: "zero", schema: decimalSchema("0"), raw: b64(0), want: json.Number("0")},
		{name: "zero keeps its scale", schema: decimalSchema("2"), raw: b64(0), want: json.Number("0.00")},
		{name: "minus one", schema: decimalSchema("0"), raw: b64(0xff), want: json.Number("-1")},
		{name: "-128", schema: decimalSchema("0"), raw: b64(0x80), want: json.Number("-128")},
		{name: "128 needs a sign byte", schema: decimalSchema("1"), raw: b64(0x00, 0x80), want: json.Number("12.8")},
		{name: "small fraction", schema: decimalSchema("5"), raw: b64(123), want: json.Number("0.00123")},
		{name: "negative small fraction", schema: decimalSchema("5"), raw: b64(0xff, 0x85), want: json.Number("-0.00123")},
		{name: "negative scale", schema: decimalSchema("-2"), raw: b64(123), want: json.Number("12300")},
		{name: "min int64", schema: decimalSchema("0"), raw: b64(0x80, 0, 0, 0, 0, 0, 0, 0), want: json.Number("-9223372036854775808")},
		{name: "big negative", schema: decimalSchema("10"), raw: b64(hugeBytes...), want: json.Number("-12345678901234567890.1234567890")},
		{name: "decimal.format=NUMERIC", schema: decimalSchema("2"), raw: `12.50`, want: json.Number("12.50")},
		{name: "as string", spec: AttributeSpec{Type: TypeString}, schema: decimalSchema("2"), raw: b64(0x04, 0xd2), want: "12.34"},
		{name: "variable scale", schema: vsd, raw: `{"scale":2,"value":` + b64(0x30, 0x39) + `}`, want: json.Number("123.45")},
		{name: "variable scale, bad", schema: vsd, raw: `{"scale":"2"}`, err: `io.debezium.data.VariableScaleDecimal: want {"scale": n, "value": base64}, got {"scale":"2"}`},
		{name: "empty bytes", schema: decimalSchema("2"), raw: `""`, err: `decimal: want base64 bytes, got ""`},
		{name: "scale missing", schema: `{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"v"}`, raw: b64(1), err: "org.apache.kafka.connect.data.Decimal: schema parameters.scale: missing"},
		{name: "scale too large", schema: decimalSchema("99999"), raw: b64(1), err: "decimal: too large"},
		{name: "double mode", schema: `{"type":"double","optional":true,"field":"v"}`, raw: `1234.5`, want: json.Number("1234.5")},
		{name: "string mode", spec: AttributeSpec{Type: TypeNumber}, schema: `{"type":"string","optional":true,"field":"v"}`, raw: `"1234.50"`, want: json.Number("1234.50")},
	})
}

func TestTemporal(t *testing.T) {
	field := func(typ, name string) string {
		return `{"type":"` + typ + `","optional":true,"name":"` + name + `","version":1,"field":"v"}`
	}
	runValueCases(t, []valueCase{
		{name: "date before the epoch", schema: field("int32", debeziumDate), raw: `-1`, want: "1969-12-31T00:00:00Z"},
		{name: "date out of range", schema: field("int32", debeziumDate), raw: `3000000`, err: "datetime out of range (year 10183)"},
		{name: "date not an integer", schema: field("int32", debeziumDate), raw: `"2024-01-02"`, err: `io.debezium.time.Date: want an integer, got "2024-01-02"`},
		{name: "midnight", schema: field("int64", debeziumMicroTime), raw: `0`, want: "00:00:00"},
		{name: "24:00:00", schema: field("int64", debeziumMicroTime), raw: `86400000000`, want: "24:00:00"},
		{name: "past 24:00", schema: field("int64", debeziumMicroTime), raw: `86400000001`, err: "io.debezium.time.MicroTime: 86400000001 is not a time of day"},
		{name: "negative time", schema: field("int32", debeziumTime), raw: `-1`, err: "io.debezium.time.Time: -1 is not a time of day"},
		{name: "one nanosecond", schema: field("int64", debeziumNanoTime), raw: `1`, want: "00:00:00.000000001"},
		{name: "time of day is not a datetime", spec: AttributeSpec{Type: TypeDatetime}, schema: field("int64", debeziumMicroTime), raw: `1`, err: "datetime: io.debezium.time.MicroTime is a time of day, not a datetime"},
		{name: "time of day as string", spec: AttributeSpec{Type: TypeString}, schema: field("int32", connectTime), raw: `1000`, want: "00:00:01"},
		{name: "timestamp before the epoch", schema: field("int64", debeziumTimestamp), raw: `-1`, want: "1969-12-31T23:59:59.999Z"},
		{name: "nano timestamp", schema: field("int64", debeziumNanoTimestamp), raw: `1704164645000000001`, want: "2024-01-02T03:04:05.000000001Z"},
		{name: "zoned timestamp with offset", schema: field("string", debeziumZonedTimestamp), raw: `"2024-01-02T01:04:05-02:00"`, want: "2024-01-02T03:04:05Z"},
		{name: "zoned timestamp, bad", schema: field("string", debeziumZonedTimestamp), raw: `"infinity"`, err: `io.debezium.time.ZonedTimestamp: want an ISO 8601 string, got "infinity"`},
		{name: "zoned time", schema: field("string", debeziumZonedTime), raw: `"10:15:30+01:00"`, want: "10:15:30+01:00"},
		{name: "year", schema: field("int32", "io.debezium.time.Year"), raw: `2024`, want: json.Number("2024")},
		{name: "connect timestamp as datetime", spec: AttributeSpec{Type: TypeDatetime, Unit: UnitSeconds}, schema: field("int64", connectTimestamp), raw: `1000`, want: "1970-01-01T00:00:01Z"},
		{name: "plain int64 as datetime in us", spec: AttributeSpec{Type: TypeDatetime, Unit: UnitMicros}, schema: `{"type":"int64","field":"v"}`, raw: `1500000`, want: "1970-01-01T00:00:01.5Z"},
	})
}

func TestDatetimeWithoutSchema(t *testing.T) {
	dt := func(unit TimeUnit) AttributeSpec { return AttributeSpec{Type: TypeDatetime, Unit: unit} }
	runValueCases(t, []valueCase{
		{name: "RFC 3339", spec: dt(""), raw: `"2024-01-02T03:04:05.100Z"`, want: "2024-01-02T03:04:05.1Z"},
		{name: "offset", spec: dt(""), raw: `"2024-01-02T04:04:05+01:00"`, want: "2024-01-02T03:04:05Z"},
		{name: "short offset", spec: dt(""), raw: `"2024-01-02T04:04:05+01"`, want: "2024-01-02T03:04:05Z"},
		{name: "no offset is UTC", spec: dt(""), raw: `"2024-01-02T03:04:05.5"`, want: "2024-01-02T03:04:05.5Z"},
		{name: "PostgreSQL text", spec: dt(""), raw: `"2024-01-02 03:04:05.123+00"`, want: "2024-01-02T03:04:05.123Z"},
		{name: "space, no offset", spec: dt(""), raw: `"2024-01-02 03:04:05"`, want: "2024-01-02T03:04:05Z"},
		{name: "date", spec: dt(""), raw: `"2024-01-02"`, want: "2024-01-02T00:00:00Z"},
		{name: "milliseconds by default", spec: dt(""), raw: `1704164645123`, want: "2024-01-02T03:04:05.123Z"},
		{name: "seconds", spec: dt(UnitSeconds), raw: `1704164645`, want: "2024-01-02T03:04:05Z"},
		{name: "fractional seconds", spec: dt(UnitSeconds), raw: `1704164645.25`, want: "2024-01-02T03:04:05.25Z"},
		{name: "negative fractional seconds", spec: dt(UnitSeconds), raw: `-1.5`, want: "1969-12-31T23:59:58.5Z"},
		{name: "exponent", spec: dt(UnitSeconds), raw: `1e3`, want: "1970-01-01T00:16:40Z"},
		{name: "microseconds", spec: dt(UnitMicros), raw: `1704164645123456`, want: "2024-01-02T03:04:05.123456Z"},
		{name: "nanoseconds", spec: dt(UnitNanos), raw: `1704164645123456789`, want: "2024-01-02T03:04:05.123456789Z"},
		{name: "negative milliseconds", spec: dt(""), raw: `-1`, want: "1969-12-31T23:59:59.999Z"},
		{name: "numeric string is not epoch", spec: dt(""), raw: `"1704164645"`, err: `datetime: want ISO 8601 string or epoch number, got "1704164645"`},
		{name: "huge", spec: dt(UnitSeconds), raw: `1e300`, err: "datetime: epoch 1e300 s is out of range"},
		{name: "too large for int64", spec: dt(UnitNanos), raw: `99999999999999999999`, want: "5138-11-16T09:46:40Z"},
		{name: "null skipped", spec: dt(""), raw: `null`, absent: true},
		{name: "null sent", spec: AttributeSpec{Type: TypeDatetime, Null: NullSend}, raw: `null`, want: nil},
	})
}

func TestExplicitTypes(t *testing.T) {
	of := func(typ ValueType) AttributeSpec { return AttributeSpec{Type: typ} }
	runValueCases(t, []valueCase{
		{name: "string from number", spec: of(TypeString), raw: `1.50`, want: "1.50"},
		{name: "string from bool", spec: of(TypeString), raw: `false`, want: "false"},
		{name: "string from list", spec: of(TypeString), raw: `[1]`, err: "string: want a scalar, got a list"},
		{name: "string from object", spec: of(TypeString), raw: `{"a": 1}`, want: `{"a":1}`},
		{name: "number from string", spec: of(TypeNumber), raw: `" -12.5e3 "`, want: json.Number("-12.5e3")},
		{name: "number from bad string", spec: of(TypeNumber), raw: `"12abc"`, err: `number: want a number or numeric string, got "12abc"`},
		{name: "number from bool", spec: of(TypeNumber), raw: `true`, err: "number: want a number or numeric string, got true"},
		{name: "boolean from TRUE", spec: of(TypeBoolean), raw: `"TRUE"`, want: true},
		{name: "boolean from 0", spec: of(TypeBoolean), raw: `0`, want: false},
		{name: "boolean from 1", spec: of(TypeBoolean), raw: `1`, want: true},
		{name: "boolean from 2", spec: of(TypeBoolean), raw: `2`, err: `boolean: want a boolean, "true", "false", 0 or 1, got 2`},
		{name: "list from array", spec: of(TypeList), raw: `["a",null,2]`, want: []any{"a", json.Number("2")}},
		{name: "list from JSON text", spec: of(TypeList), raw: `"[\"a\", 2]"`, want: []any{"a", json.Number("2")}},
		{name: "list from other text", spec: of(TypeList), raw: `"a,b"`, err: `list: want an array or the JSON text of one, got "a,b"`},
		{name: "list of objects", spec: of(TypeList), raw: `[{"a":1}]`, err: `list: element 0 is not a literal: {"a":1}`},
		{name: "long value shortened in errors", spec: of(TypeNumber), raw: `"` + "ééééééééééééééééééééééééééééééé" + `"`, err: `number: want a number or numeric string, got "éééééééééééééééééééé..."`},
		{name: "auto object", raw: `{"a": [1, 2]}`, want: `{"a":[1,2]}`},
		{name: "auto number keeps its text", raw: `12345678901234567890.000`, want: json.Number("12345678901234567890.000")},
		{name: "malformed number", raw: `1-2`, err: "invalid number 1-2"},
	})
}

func TestUnavailablePlaceholder(t *testing.T) {
	p := newPlaceholder(DefaultUnavailablePlaceholder)
	// Debezium's documented name-based UUID of the default placeholder (DBZ-6720).
	if p.uuid != "b68a35a7-17ad-35b3-af2a-ae46edb4545a" {
		t.Errorf("uuid form %s", p.uuid)
	}
	ints := strings.Join(p.bytes, ",") // 95,95,100,...: the placeholder's bytes
	runValueCases(t, []valueCase{
		{name: "text", raw: `"__debezium_unavailable_value"`, absent: true},
		{name: "bytea", raw: `"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="`, absent: true},
		{name: "text[]", raw: `["__debezium_unavailable_value"]`, absent: true},
		{name: "uuid[]", raw: `["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]`, absent: true},
		{name: "int[]", raw: `[` + ints + `]`, absent: true},
		{name: "typed", spec: AttributeSpec{Type: TypeNumber, Null: NullSend}, raw: `"__debezium_unavailable_value"`, absent: true},
		{name: "a value that merely contains it", raw: `"x__debezium_unavailable_value"`, want: "x__debezium_unavailable_value"},
		{name: "two elements", raw: `["__debezium_unavailable_value","a"]`, want: []any{"__debezium_unavailable_value", "a"}},
	})

	m, err := New(Config{Object: ObjectUser, IDColumn: "id", UnavailablePlaceholder: "~gone~",
		Attributes: map[string]AttributeSpec{"bio": {Column: "bio"}, "old": {Column: "old"}}})
	if err != nil {
		t.Fatal(err)
	}
	op, err := m.Map(Message{Value: []byte(`{"op":"u","after":{"id":1,"bio":"~gone~","old":"__debezium_unavailable_value"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"old": "__debezium_unavailable_value"}, map[string]any(op.User.Attributes)); diff != "" {
		t.Errorf("custom placeholder (-want +got):\n%s", diff)
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "1e5": true, "1E+5": true, "-1.5e-3": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "+1": false, "NaN": false,
		"Inf": false, "1-2": false, "0x10": false, "1.5.5": false, "1e5.5": false,
	} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}
