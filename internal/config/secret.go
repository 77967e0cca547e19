package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

const redacted = "[REDACTED]"

// Secret is a string that is never printed. String, GoString, every fmt verb,
// MarshalJSON and MarshalYAML give "[REDACTED]", or "" for an empty Secret,
// so that "not set" stays visible. string(s) is the value.
type Secret string

// String returns "[REDACTED]", or "" when s is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Format writes String for every verb and flag.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON writes String as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes String.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Redacted renders c as YAML, secrets redacted: after Parse, Load or
// Validate, the effective configuration with every default spelt out. In
// the syncs, empty keys are left out and an attribute that names only a
// column is written as that column.
func (c *Config) Redacted() string {
	var root yaml.Node // a Config is plain data: encoding it cannot fail
	_ = root.Encode(c)
	for i := 0; i < len(root.Content); i += 2 {
		if root.Content[i].Value == "syncs" {
			tidy(root.Content[i+1])
		}
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(&root)
	_ = enc.Close()
	return b.String()
}

// tidy drops the keys of mappings below n whose value is empty ("", null,
// {}), turns a mapping left with only a column ({column: email}) into the
// column, and writes the other attributes in flow style.
func tidy(n *yaml.Node) {
	for _, child := range n.Content {
		tidy(child)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i < len(n.Content); i += 2 {
		v := n.Content[i+1]
		if v.Tag == "!!null" || v.Tag == "!!str" && v.Value == "" || v.Kind == yaml.MappingNode && len(v.Content) == 0 {
			continue
		}
		kept = append(kept, n.Content[i], v)
	}
	n.Content = kept
	if len(kept) > 0 && kept[0].Value == "column" {
		n.Style = yaml.FlowStyle
		if len(kept) == 2 {
			*n = *kept[1]
		}
	}
}
