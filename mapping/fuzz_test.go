package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// checkOperation asserts what every result of Map satisfies.
func checkOperation(t testing.TB, op Operation, err error) {
	t.Helper()
	if err != nil {
		var de *DecodeError
		var me *MappingError
		if !errors.As(err, &de) && !errors.As(err, &me) {
			t.Fatalf("error %T is neither *DecodeError nor *MappingError: %v", err, err)
		}
		if !cmp.Equal(op, Operation{}) {
			t.Fatalf("error %v came with an operation: %+v", err, op)
		}
		return
	}
	if op.Object != ObjectUser && op.Object != ObjectGroup {
		t.Fatalf("object %q", op.Object)
	}
	switch op.Action {
	case ActionUpsert:
		if op.ID == "" || !utf8.ValidString(op.ID) || op.Skip != "" || op.Tombstone {
			t.Fatalf("bad upsert: %+v", op)
		}
		var body any
		switch {
		case op.Object == ObjectUser && op.User != nil && op.Group == nil && op.User.ID == op.ID:
			if err := op.User.Validate(); err != nil {
				t.Fatalf("user request: %v", err)
			}
			checkAttributes(t, op.User.Attributes)
			for _, g := range op.User.Groups {
				checkAttributes(t, g.Attributes)
			}
			for _, ms := range op.User.Memberships {
				checkAttributes(t, ms.Attributes)
				checkAttributes(t, ms.Group.Attributes)
			}
			if op.User.PruneMemberships && op.User.Groups == nil && op.User.Memberships == nil {
				t.Fatalf("prune_memberships without a list: %+v", op.User)
			}
			body = op.User
		case op.Object == ObjectGroup && op.Group != nil && op.User == nil && op.Group.ID == op.ID:
			if err := op.Group.Validate(); err != nil {
				t.Fatalf("group request: %v", err)
			}
			checkAttributes(t, op.Group.Attributes)
			body = op.Group
		default:
			t.Fatalf("upsert must set exactly the request of its object: %+v", op)
		}
		if _, err := json.Marshal(body); err != nil {
			t.Fatalf("request does not marshal: %v", err)
		}
	case ActionDelete:
		if op.ID == "" || op.User != nil || op.Group != nil || op.Skip != "" {
			t.Fatalf("bad delete: %+v", op)
		}
	case ActionSkip:
		if op.Skip == "" || op.User != nil || op.Group != nil || op.Tombstone {
			t.Fatalf("bad skip: %+v", op)
		}
	default:
		t.Fatalf("action %v", op.Action)
	}
}

func checkAttributes(t testing.TB, attrs userflow.Attributes) {
	t.Helper()
	if attrs != nil && len(attrs) == 0 {
		t.Fatalf("empty non-nil attributes")
	}
	for name, v := range attrs {
		switch v := v.(type) {
		case nil, string, bool:
		case json.Number:
			if !isJSONNumber(string(v)) {
				t.Fatalf("%s: invalid number %q", name, v)
			}
		case []any:
			for _, e := range v {
				switch e := e.(type) {
				case string, bool:
				case json.Number:
					if !isJSONNumber(string(e)) {
						t.Fatalf("%s: invalid number %q in list", name, e)
					}
				default:
					t.Fatalf("%s: list element %T is not a literal", name, e)
				}
			}
		default:
			t.Fatalf("%s: value %T is not a Userflow literal", name, v)
		}
	}
}

// fuzzColumns are the columns of the testdata tables, each mapped as is.
var fuzzColumns = []string{
	"email", "name", "plan", "signed_up_at", "last_seen_at", "birthday", "is_admin", "score", "tags", "preferences",
	"external_id", "avatar", "bio", "login_count", "mrr", "balance", "created_at", "domains", "role", "joined_at",
	"d", "t", "ttz", "ts", "ts3", "ts6", "tstz", "num", "num_neg", "num_big", "num_var", "price", "doc_list",
	"doc_scalar", "doc_object", "uid", "mood", "ints", "dates", "flag", "ratio", "big", "blob", "t_null", "dt2",
	"tm7", "tm0", "dto", "full_name", "updated_at", "last_login", "opens_at", "founded", "is_active", "settings",
	"features", "seats", "trial", "last_seen", "profile", "deleted_at", "__op", "__deleted", "__source_ts_ms",
}

// fuzzConfigs returns configs that between them use every feature: auto
// types with groups, explicit types with memberships, and groups.
func fuzzConfigs(format Format, idColumn string) []Config {
	auto := map[string]AttributeSpec{}
	for _, c := range fuzzColumns {
		auto[c] = AttributeSpec{Column: c, Null: NullSend}
	}
	typed := map[string]AttributeSpec{}
	for i, c := range fuzzColumns {
		typed[c+"_s"] = AttributeSpec{Column: c, Type: []ValueType{TypeString, TypeNumber, TypeBoolean, TypeDatetime, TypeList}[i%5]}
	}
	typed["u"] = AttributeSpec{Column: "last_seen", Type: TypeDatetime, Unit: UnitMicros}
	return []Config{
		{Format: format, Object: ObjectUser, IDColumn: idColumn, Attributes: auto, OnDelete: OnDeleteDelete,
			Groups: &GroupsConfig{GroupIDColumn: "company_id", Attributes: map[string]AttributeSpec{"plan": {Column: "plan"}}}},
		{Format: format, Object: ObjectUser, IDColumn: idColumn, Attributes: typed, PruneMemberships: true,
			Memberships: &MembershipsConfig{GroupIDColumn: "company_ids", Attributes: map[string]AttributeSpec{"role": {Column: "role"}},
				GroupAttributes: map[string]AttributeSpec{"name": {Column: "name", Type: TypeString}}}},
		{Format: format, Object: ObjectGroup, IDColumn: idColumn, Attributes: auto, OnDelete: OnDeleteDelete},
	}
}

func mustNew(t testing.TB, cfg Config) *Mapper {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addSeeds adds every testdata file under dirs as a value, with each key.
func addSeeds(f *testing.F, dirs []string, keys ...string) {
	keyBytes := [][]byte{nil}
	for _, k := range keys {
		keyBytes = append(keyBytes, testdata(f, k))
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds in %s: %v", dir, err)
		}
		for _, file := range files {
			value, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			for _, key := range keyBytes {
				f.Add(value, key)
			}
		}
	}
	for _, key := range keyBytes {
		f.Add([]byte(nil), key)
	}
}

// fuzzMap maps every input twice with each mapper: first with an empty
// schema cache, so in full, then through the schema the first call learned.
func fuzzMap(f *testing.F, format Format, idColumn string) {
	var ms []*Mapper
	for _, c := range fuzzConfigs(format, idColumn) {
		ms = append(ms, mustNew(f, c))
	}
	f.Fuzz(func(t *testing.T, value, key []byte) {
		original := bytes.Clone(value)
		msg := Message{Key: key, Value: value}
		if len(key) <= 2 {
			msg.Headers = []Header{{Key: "__op", Value: key}, {Key: "__source_ts_ms", Value: key}}
		}
		for _, m := range ms {
			m.schemas.Store(nil)
			want, wantErr := m.Map(msg)
			checkOperation(t, want, wantErr)
			got, err := m.Map(msg)
			if !cmp.Equal(want, got) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("the schema cache changed the result: %+v, %v; want %+v, %v", got, err, want, wantErr)
			}
		}
		if !bytes.Equal(value, original) {
			t.Fatal("Map changed its input")
		}
	})
}

func FuzzMapDebezium(f *testing.F) {
	addSeeds(f, []string{"postgres", "mysql", "sqlserver"}, "keys/pg_users_key_schema.json", "keys/mysql_customers_key.json")
	fuzzMap(f, FormatDebezium, "id")
}

func FuzzMapDebeziumFlat(f *testing.F) {
	addSeeds(f, []string{"flat"}, "keys/pg_users_key_schema.json", "keys/pg_users_key.json")
	fuzzMap(f, FormatDebeziumFlat, "id")
}

func FuzzMapJSON(f *testing.F) {
	addSeeds(f, []string{"json"}, "keys/plain_key.txt", "keys/json_string_key.json")
	fuzzMap(f, FormatJSON, "user_id")
}

// FuzzSpecYAML decodes sync configs strictly: no panic, and New accepts
// exactly what Validate accepts, whose problems are all *FieldError.
func FuzzSpecYAML(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no config seeds: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var cfg Config
		dec := yaml.NewDecoder(bytes.NewReader(doc))
		dec.KnownFields(true)
		if dec.Decode(&cfg) != nil {
			return
		}
		verr := cfg.Validate()
		m, err := New(cfg)
		if (verr == nil) != (err == nil) || (err == nil) != (m != nil) {
			t.Fatalf("Validate: %v; New: %v", verr, err)
		}
		if verr != nil {
			for _, e := range verr.(interface{ Unwrap() []error }).Unwrap() {
				if _, ok := e.(*FieldError); !ok {
					t.Fatalf("problem %T is not a *FieldError: %v", e, e)
				}
			}
			return
		}
		op, err := m.Map(Message{Value: []byte(`{"op":"c","after":{}}`)})
		checkOperation(t, op, err)
	})
}
