package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// attributeSpec has AttributeSpec's fields and tags but not its methods, so
// decoding into it does not recurse.
type attributeSpec AttributeSpec

// UnmarshalYAML reads an attribute written either as a column name
// (`email: email_address`) or as a mapping
// (`signed_up_at: {column: created_at, type: datetime, unit: us}`).
//
// It uses the unmarshal-function interface that go.yaml.in/yaml/v3 and
// goccy/go-yaml both honour, so this package imports no YAML library. The
// mapping form is decoded by the caller's decoder, so a strict decoder
// (yaml.v3's KnownFields(true)) rejects unknown keys in it.
func (s *AttributeSpec) UnmarshalYAML(unmarshal func(any) error) error {
	var column string
	if unmarshal(&column) == nil {
		*s = AttributeSpec{Column: column}
		return nil
	}
	var fields attributeSpec
	if err := unmarshal(&fields); err != nil {
		return err
	}
	// YAML reads a plain `null:` key as a null, not as the string "null", and
	// decoders then drop it silently (yaml.v3 even when strict), so
	// `{column: x, null: send}` would lose its policy. Fetch it by hand.
	var raw map[any]any
	if fields.Null == "" && unmarshal(&raw) == nil {
		if v := raw[nil]; v != nil {
			fields.Null = NullPolicy(fmt.Sprint(v))
		}
	}
	*s = AttributeSpec(fields)
	return nil
}

// UnmarshalJSON reads an attribute written either as a column name
// ("email_address") or as an object ({"column": "created_at", "type":
// "datetime"}). Unknown keys in the object are always rejected: a typo there
// would silently change how a value is read.
func (s *AttributeSpec) UnmarshalJSON(data []byte) error {
	var column string
	if json.Unmarshal(data, &column) == nil {
		*s = AttributeSpec{Column: column}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fields attributeSpec
	if err := dec.Decode(&fields); err != nil {
		return fmt.Errorf("attribute: want a column name or {column, type, unit, null}: %w", err)
	}
	*s = AttributeSpec(fields)
	return nil
}
