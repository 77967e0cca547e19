package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func decodeYAML(t *testing.T, doc []byte, strict bool) (Config, error) {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(strict)
	err := dec.Decode(&cfg)
	return cfg, err
}

func TestAttributeSpecYAML(t *testing.T) {
	cfg, err := decodeYAML(t, testdata(t, "config/users.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Format: FormatDebezium, Object: ObjectUser, IDColumn: "id", OnDelete: OnDeleteDelete, PruneMemberships: true,
		Attributes: map[string]AttributeSpec{
			"email":        {Column: "email"},
			"name":         {Column: "name"},
			"plan":         {Column: "plan", Type: TypeString},
			"signed_up_at": {Column: "signed_up_at"},
			"last_seen_at": {Column: "last_seen_at", Type: TypeDatetime, Unit: UnitMicros, Null: NullSend},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_id", Attributes: map[string]AttributeSpec{"plan": {Column: "plan"}}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("decoded config (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, name := range []string{"config/memberships.yaml", "config/groups.yaml"} {
		cfg, err := decodeYAML(t, testdata(t, name), true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: New: %v", name, err)
		}
	}
}

func TestAttributeSpecYAMLStrict(t *testing.T) {
	doc := []byte("object: user\nid_column: id\nattributes:\n  email: {column: email, colum: typo}\n")
	if _, err := decodeYAML(t, doc, true); err == nil || !strings.Contains(err.Error(), "field colum not found") {
		t.Errorf("strict decode: got %v, want an unknown-field error", err)
	}
	cfg, err := decodeYAML(t, doc, false)
	if err != nil {
		t.Fatalf("lenient decode: %v", err)
	}
	if got := cfg.Attributes["email"]; got != (AttributeSpec{Column: "email"}) {
		t.Errorf("lenient decode: got %+v", got)
	}
	if _, err := decodeYAML(t, []byte("attributes:\n  email: [a, b]\n"), true); err == nil {
		t.Error("a list attribute decoded without error")
	}
	// A plain `null` key is a YAML null, which decoders drop unless told.
	cfg, err = decodeYAML(t, []byte("attributes:\n  a:\n    column: a\n    null: send\n  b: {column: b, null: 7}\n  c: {column: c, null: }\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]AttributeSpec{"a": {Column: "a", Null: NullSend}, "b": {Column: "b", Null: "7"}, "c": {Column: "c"}}, cfg.Attributes); diff != "" {
		t.Errorf("null key (-want +got):\n%s", diff)
	}
	cfg, err = decodeYAML(t, []byte("attributes:\n  n: 42\n  e:\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]AttributeSpec{"n": {Column: "42"}, "e": {}}, cfg.Attributes); diff != "" {
		t.Errorf("scalar forms (-want +got):\n%s", diff)
	}
}

// TestInvalidYAML: every problem of a bad config file is reported at once.
func TestInvalidYAML(t *testing.T) {
	cfg, err := decodeYAML(t, testdata(t, "config/invalid.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"format: must be debezium, debezium-flat or json",
		"mode: must be upsert or update",
		"id_column: required",
		"attributes.sign up!: invalid attribute name",
		"attributes.x.unit: must be s, ms, us or ns",
		"groups: only valid for object user",
		"groups.group_id_column: required",
		"groups.attributes.plan.column: required",
		"groups.attributes.plan.type: must be string, number, boolean, datetime or list",
		"memberships: only valid for object user",
		"groups: set at most one of groups and memberships",
		"on_delete: must be ignore or delete",
	}
	if diff := cmp.Diff(want, problems(t, cfg.Validate())); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestAttributeSpecJSON(t *testing.T) {
	var cfg Config
	doc := `{"object":"user","id_column":"id","attributes":{"email":"email_address","seen":{"column":"seen_at","type":"datetime","unit":"s","null":"send"},"x":null}}`
	if err := json.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]AttributeSpec{
		"email": {Column: "email_address"},
		"seen":  {Column: "seen_at", Type: TypeDatetime, Unit: UnitSeconds, Null: NullSend},
		"x":     {},
	}
	if diff := cmp.Diff(want, cfg.Attributes); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"column":"a","colum":"b"}`, `[1]`, `3`} {
		var s AttributeSpec
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", bad, s)
		}
	}
}
