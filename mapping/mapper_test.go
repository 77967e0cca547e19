package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userflow-sync/userflow-sync/userflow"
)

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ms(n int64) time.Time { return time.UnixMilli(n).UTC() }

// pgUsers maps public.users read with a schema.
func pgUsers() Config {
	return Config{
		Object:   ObjectUser,
		IDColumn: "id",
		Attributes: map[string]AttributeSpec{
			"email":        {Column: "email"},
			"name":         {Column: "name"},
			"plan":         {Column: "plan"},
			"signed_up_at": {Column: "signed_up_at"},
			"last_seen_at": {Column: "last_seen_at"},
			"birthday":     {Column: "birthday"},
			"admin":        {Column: "is_admin"},
			"score":        {Column: "score"},
			"tags":         {Column: "tags"},
			"preferences":  {Column: "preferences"},
			"external_id":  {Column: "external_id"},
			"avatar":       {Column: "avatar"},
			"bio":          {Column: "bio"},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_id"},
	}
}

// pgUsersNoSchema maps public.users read without a schema: explicit types
// say what the schema would have.
func pgUsersNoSchema() Config {
	return Config{
		Object:   ObjectUser,
		IDColumn: "id",
		Attributes: map[string]AttributeSpec{
			"email":        {Column: "email"},
			"name":         {Column: "name"},
			"plan":         {Column: "plan"},
			"signed_up_at": {Column: "signed_up_at", Type: TypeDatetime},
			"last_seen_at": {Column: "last_seen_at", Type: TypeDatetime, Unit: UnitMicros},
			"admin":        {Column: "is_admin"},
			"tags":         {Column: "tags"},
			"preferences":  {Column: "preferences", Type: TypeString},
			"avatar":       {Column: "avatar"},
			"bio":          {Column: "bio"},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_id"},
	}
}

func with(c Config, f func(*Config)) Config {
	f(&c)
	return c
}

var (
	annAttrs = userflow.Attributes{
		"email":        "ann@example.com",
		"name":         "Ann Lee",
		"plan":         "pro",
		"signed_up_at": "2024-01-02T03:04:05.123456Z",
		"last_seen_at": "2024-05-29T16:26:40.123456Z",
		"birthday":     "1990-04-12T00:00:00Z",
		"admin":        false,
		"score":        json.Number("1234.50"),
		"tags":         []any{"beta", "vip"},
		"preferences":  `{"theme":"dark","digest":true}`,
		"external_id":  "9b2f3c1e-5d4a-4f7e-8c2b-1a0e6d3f9b21",
		"avatar":       "iVBORw0KGgo=",
		"bio":          "Ann runs growth at Acme.",
	}
	ann2Attrs = merge(annAttrs, userflow.Attributes{
		"email":        "ann.lee@example.com",
		"plan":         "enterprise",
		"last_seen_at": "2024-05-30T08:00:00Z",
	})
	ann2NoSchemaAttrs = userflow.Attributes{
		"email":        "ann.lee@example.com",
		"name":         "Ann Lee",
		"plan":         "enterprise",
		"signed_up_at": "2024-01-02T03:04:05.123456Z",
		"last_seen_at": "2024-05-30T08:00:00Z",
		"admin":        false,
		"tags":         []any{"beta", "vip"},
		"preferences":  `{"theme": "dark", "digest": true}`,
		"avatar":       "iVBORw0KGgo=",
		"bio":          "Ann runs growth at Acme.",
	}
	acme = []userflow.GroupRequest{{ID: "7"}}
)

func merge(base userflow.Attributes, over userflow.Attributes) userflow.Attributes {
	out := userflow.Attributes{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func user(id string, attrs userflow.Attributes, groups []userflow.GroupRequest, src time.Time) Operation {
	return Operation{Action: ActionUpsert, Object: ObjectUser, Mode: ModeUpsert, ID: id, SourceTime: src,
		User: &userflow.UpsertUserRequest{ID: id, Attributes: attrs, Groups: groups}}
}

func skip(obj Object, reason SkipReason, id string, src time.Time) Operation {
	return Operation{Action: ActionSkip, Skip: reason, Object: obj, Mode: ModeUpsert, ID: id, SourceTime: src}
}

func del(obj Object, id string, src time.Time) Operation {
	return Operation{Action: ActionDelete, Object: obj, Mode: ModeUpsert, ID: id, SourceTime: src}
}

type mapCase struct {
	name    string
	cfg     Config
	value   string // testdata file, or inline JSON when it starts with '{'
	key     string // testdata file, or the key itself
	headers []Header
	want    Operation
	wantErr string
}

func (c mapCase) message(t *testing.T) Message {
	msg := Message{Headers: c.headers}
	switch {
	case c.value == "":
	case strings.HasPrefix(c.value, "{"), c.value == "null":
		msg.Value = []byte(c.value)
	default:
		msg.Value = testdata(t, c.value)
	}
	switch {
	case strings.HasPrefix(c.key, "keys/"):
		msg.Key = testdata(t, c.key)
	case c.key != "":
		msg.Key = []byte(c.key)
	}
	return msg
}

func runMapCases(t *testing.T, cases []mapCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := m.Map(c.message(t))
			checkOperation(t, got, err)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error:\n got: %v\nwant: %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Map (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapPostgres(t *testing.T) {
	deleting := func(c *Config) { c.OnDelete = OnDeleteDelete }
	runMapCases(t, []mapCase{{
		name:  "create with schema",
		cfg:   pgUsers(),
		value: "postgres/users_create_schema.json",
		want:  user("42", annAttrs, acme, ms(1716990000000)),
	}, {
		name:  "snapshot read",
		cfg:   pgUsers(),
		value: "postgres/users_read_schema.json",
		want:  user("42", annAttrs, acme, ms(1716980000000)),
	}, {
		name:  "create without schema",
		cfg:   pgUsersNoSchema(),
		value: "postgres/users_create.json",
		want: user("42", merge(ann2NoSchemaAttrs, userflow.Attributes{
			"email": "ann@example.com", "plan": "pro", "last_seen_at": "2024-05-29T16:26:40.123456Z",
		}), acme, ms(1716990000000)),
	}, {
		name:  "update with schema, replica identity default: never skipped",
		cfg:   pgUsers(),
		value: "postgres/users_update_schema.json",
		want:  user("42", ann2Attrs, acme, ms(1717056000000)),
	}, {
		name:  "update in mode update",
		cfg:   with(pgUsers(), func(c *Config) { c.Mode = ModeUpdate }),
		value: "postgres/users_update_schema.json",
		want: func() Operation {
			op := user("42", ann2Attrs, acme, ms(1717056000000))
			op.Mode = ModeUpdate
			return op
		}(),
	}, {
		name:  "update without schema",
		cfg:   pgUsersNoSchema(),
		value: "postgres/users_update.json",
		want:  user("42", ann2NoSchemaAttrs, acme, ms(1717056000000)),
	}, {
		name:  "unavailable TOASTed values are left out",
		cfg:   pgUsers(),
		value: "postgres/users_update_toast_schema.json",
		want: user("42", merge(ann2Attrs, userflow.Attributes{
			"bio": nil, "avatar": nil, "tags": nil, "preferences": nil,
		}), acme, ms(1717056060000)),
	}, {
		name:  "replica identity full, unmapped column changed",
		cfg:   pgUsersNoSchema(),
		value: "postgres/users_update_full_unmapped.json",
		want:  skip(ObjectUser, SkipUnchanged, "42", ms(1717056120000)),
	}, {
		name:  "replica identity full with schema, unmapped column changed",
		cfg:   pgUsers(),
		value: "postgres/users_update_full_unmapped_schema.json",
		want:  skip(ObjectUser, SkipUnchanged, "42", ms(1717056120000)),
	}, {
		name: "replica identity full, unmapped column changed, but login_count is mapped",
		cfg: with(pgUsersNoSchema(), func(c *Config) {
			c.Attributes = map[string]AttributeSpec{"logins": {Column: "login_count"}}
		}),
		value: "postgres/users_update_full_unmapped.json",
		want:  user("42", userflow.Attributes{"logins": json.Number("19")}, acme, ms(1717056120000)),
	}, {
		name:  "replica identity full, mapped column changed",
		cfg:   pgUsersNoSchema(),
		value: "postgres/users_update_full_changed.json",
		want:  user("42", merge(ann2NoSchemaAttrs, userflow.Attributes{"name": "Ann Lee-Park"}), acme, ms(1717056180000)),
	}, {
		name:  "delete, replica identity default",
		cfg:   with(pgUsers(), deleting),
		value: "postgres/users_delete_schema.json",
		want:  del(ObjectUser, "42", ms(1717060000000)),
	}, {
		name:  "delete, replica identity full",
		cfg:   with(pgUsersNoSchema(), deleting),
		value: "postgres/users_delete_full.json",
		want:  del(ObjectUser, "42", ms(1717060000000)),
	}, {
		name:  "delete ignored",
		cfg:   pgUsersNoSchema(),
		value: "postgres/users_delete.json",
		want:  skip(ObjectUser, SkipDeleteIgnored, "42", ms(1717060000000)),
	}, {
		name:    "delete whose before and key lack id_column",
		cfg:     with(pgUsersNoSchema(), func(c *Config) { deleting(c); c.IDColumn = "external_id" }),
		value:   "postgres/users_delete.json",
		key:     "keys/pg_users_key.json",
		wantErr: "mapping: before.external_id: id: null, and the key holds none",
	}, {
		name:  "delete without before: id from the key",
		cfg:   with(pgUsers(), deleting),
		value: `{"before":null,"after":null,"source":{"ts_ms":1717060000000},"op":"d","ts_ms":1717060000090}`,
		key:   "keys/pg_users_key_schema.json",
		want:  del(ObjectUser, "42", ms(1717060000000)),
	}, {
		name:  "tombstone, key with schema",
		cfg:   with(pgUsers(), deleting),
		key:   "keys/pg_users_key_schema.json",
		want:  Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "42", Tombstone: true},
		value: "",
	}, {
		name: "tombstone, key without schema",
		cfg:  with(pgUsers(), deleting),
		key:  "keys/pg_users_key.json",
		want: Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "42", Tombstone: true},
	}, {
		name:  "tombstone as JSON null",
		cfg:   with(pgUsers(), deleting),
		value: "null",
		key:   "keys/pg_users_key.json",
		want:  Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "42", Tombstone: true},
	}, {
		name: "tombstone ignored",
		cfg:  pgUsers(),
		key:  "keys/pg_users_key.json",
		want: skip(ObjectUser, SkipDeleteIgnored, "42", time.Time{}),
	}, {
		name: "tombstone without a key",
		cfg:  with(pgUsers(), deleting),
		want: skip(ObjectUser, SkipTombstoneNoKey, "", time.Time{}),
	}, {
		name: "tombstone whose key lacks id_column",
		cfg:  with(pgUsers(), func(c *Config) { deleting(c); c.IDColumn = "external_id" }),
		key:  "keys/pg_users_key.json",
		want: skip(ObjectUser, SkipTombstoneNoKey, "", time.Time{}),
	}, {
		name:  "truncate",
		cfg:   pgUsers(),
		value: "postgres/users_truncate_schema.json",
		want:  skip(ObjectUser, SkipTruncate, "", ms(1717070000000)),
	}, {
		name:  "logical decoding message",
		cfg:   pgUsers(),
		value: "postgres/message.json",
		want:  skip(ObjectUser, SkipMessage, "", ms(1717080000000)),
	}, {
		name: "group: variable scale decimal, negative decimal, JSON list",
		cfg: Config{Object: ObjectGroup, IDColumn: "id", Attributes: map[string]AttributeSpec{
			"name": {Column: "name"}, "plan": {Column: "plan"}, "mrr": {Column: "mrr"}, "balance": {Column: "balance"},
			"created_at": {Column: "created_at"}, "domains": {Column: "domains"},
		}},
		value: "postgres/companies_create_schema.json",
		want: Operation{Action: ActionUpsert, Object: ObjectGroup, Mode: ModeUpsert, ID: "7", SourceTime: ms(1717000000000),
			Group: &userflow.GroupRequest{ID: "7", Attributes: userflow.Attributes{
				"name": "Acme", "plan": "enterprise", "mrr": json.Number("1249.990"), "balance": json.Number("-15.00"),
				"created_at": "2019-03-04T05:06:07Z", "domains": []any{"acme.com", "acme.io"},
			}}},
	}, {
		name: "memberships with group attributes and pruning",
		cfg: Config{Object: ObjectUser, IDColumn: "user_id", PruneMemberships: true, Memberships: &MembershipsConfig{
			GroupIDColumn:   "company_id",
			Attributes:      map[string]AttributeSpec{"role": {Column: "role"}, "joined_at": {Column: "joined_at"}},
			GroupAttributes: map[string]AttributeSpec{"company_id": {Column: "company_id", Type: TypeString}},
		}},
		value: "postgres/memberships_create_schema.json",
		want: Operation{Action: ActionUpsert, Object: ObjectUser, Mode: ModeUpsert, ID: "42", SourceTime: ms(1717000100000),
			User: &userflow.UpsertUserRequest{ID: "42", PruneMemberships: true, Memberships: []userflow.MembershipRequest{{
				Attributes: userflow.Attributes{"role": "admin", "joined_at": "2024-02-03T10:00:00Z"},
				Group:      userflow.GroupRequest{ID: "7", Attributes: userflow.Attributes{"company_id": "7"}},
			}}}},
	}, {
		name:  "null group id: no list, so no membership is touched",
		cfg:   with(pgUsers(), func(c *Config) { c.PruneMemberships = true }),
		value: `{"before":null,"after":{"id":42,"company_id":null},"op":"c"}`,
		want:  user("42", nil, nil, time.Time{}),
	}})
}

func TestMapTypes(t *testing.T) {
	attrs := func(cols ...string) map[string]AttributeSpec {
		m := map[string]AttributeSpec{}
		for _, c := range cols {
			m[c] = AttributeSpec{Column: c}
		}
		return m
	}
	group := func(id string, src int64, attrs userflow.Attributes) Operation {
		return Operation{Action: ActionUpsert, Object: ObjectGroup, Mode: ModeUpsert, ID: id, SourceTime: ms(src),
			Group: &userflow.GroupRequest{ID: id, Attributes: attrs}}
	}
	pgTypes := attrs("d", "t", "ttz", "ts3", "ts6", "tstz", "num", "num_neg", "num_big", "num_var", "price",
		"doc_list", "doc_scalar", "doc_object", "uid", "mood", "ints", "dates", "flag", "ratio", "big", "blob", "t_null")
	pgTypes["t_null_sent"] = AttributeSpec{Column: "t_null", Null: NullSend}
	pgTypes["num_text"] = AttributeSpec{Column: "num", Type: TypeString}
	pgTypes["doc_text"] = AttributeSpec{Column: "doc_list", Type: TypeString}
	pgTypes["doc_as_list"] = AttributeSpec{Column: "doc_list", Type: TypeList}
	pgTypes["ratio_text"] = AttributeSpec{Column: "ratio", Type: TypeString}
	pgTypes["d_typed"] = AttributeSpec{Column: "d", Type: TypeDatetime}
	pgTypes["flag_text"] = AttributeSpec{Column: "flag", Type: TypeString}

	connect := attrs("d", "t", "ts", "num", "ratio")
	connect["num_number"] = AttributeSpec{Column: "num", Type: TypeNumber}

	runMapCases(t, []mapCase{{
		name:  "postgres: every adaptive temporal type, decimals, JSON, arrays",
		cfg:   Config{Object: ObjectGroup, IDColumn: "id", Attributes: pgTypes},
		value: "postgres/types_create_schema.json",
		want: group("1", 1717000200000, userflow.Attributes{
			"d":           "2024-01-02T00:00:00Z",
			"d_typed":     "2024-01-02T00:00:00Z",
			"t":           "15:04:05.123456",
			"ttz":         "15:04:05.123Z",
			"ts3":         "2024-01-02T03:04:05.678Z",
			"ts6":         "2024-01-02T03:04:05.678901Z",
			"tstz":        "2024-01-02T03:04:05.5Z",
			"num":         json.Number("1234.567"),
			"num_text":    "1234.567",
			"num_neg":     json.Number("-1234.567"),
			"num_big":     json.Number("12345678901234567890123456.7890"),
			"num_var":     json.Number("-31.41592"),
			"price":       json.Number("19.99"),
			"doc_list":    []any{"a", json.Number("1"), true, json.Number("2.50")},
			"doc_text":    `["a", 1, true, null, 2.50]`,
			"doc_as_list": []any{"a", json.Number("1"), true, json.Number("2.50")},
			"doc_scalar":  json.Number("42"),
			"doc_object":  `{"a":{"b":[1,2]}}`,
			"uid":         "0d8c4a4e-3f0a-4f43-9e0a-2c8b0b4e8f11",
			"mood":        "happy",
			"ints":        []any{json.Number("3"), json.Number("1")},
			"dates":       []any{"2024-02-29T00:00:00Z", "1969-12-31T00:00:00Z"},
			"flag":        true,
			"flag_text":   "true",
			"ratio":       json.Number("0.25"),
			"ratio_text":  "0.25",
			"big":         json.Number("9007199254740993"),
			"blob":        "AAEC",
			"t_null_sent": nil,
		}),
	}, {
		name:  "postgres: time.precision.mode=connect, decimal.handling.mode=string",
		cfg:   Config{Object: ObjectGroup, IDColumn: "id", Attributes: connect},
		value: "postgres/types_connect_schema.json",
		want: group("2", 1717000300000, userflow.Attributes{
			"d":          "2024-01-02T00:00:00Z",
			"t":          "15:04:05.123",
			"ts":         "2024-01-02T03:04:05.678Z",
			"num":        "1234.567",
			"num_number": json.Number("1234.567"),
			"ratio":      json.Number("1.5e-07"),
		}),
	}, {
		name:  "sql server: nano types, offsets normalised to UTC",
		cfg:   Config{Object: ObjectGroup, IDColumn: "id", Attributes: attrs("dt2", "tm7", "tm0", "dto", "d")},
		value: "sqlserver/types_create_schema.json",
		want: group("3", 1717000400000, userflow.Attributes{
			"dt2": "2024-01-02T03:04:05.123456789Z",
			"tm7": "23:59:59.9999999",
			"tm0": "00:00:00",
			"dto": "2024-01-02T03:04:05.1234567Z",
			"d":   "2024-01-02T00:00:00Z",
		}),
	}})
}

func TestMapMySQL(t *testing.T) {
	withSchema := Config{Object: ObjectUser, IDColumn: "id", OnDelete: OnDeleteDelete,
		Attributes: map[string]AttributeSpec{
			"email": {Column: "email"}, "name": {Column: "full_name"}, "plan": {Column: "plan", Type: TypeString},
			"created_at": {Column: "created_at", Type: TypeDatetime}, "updated_at": {Column: "updated_at"},
			"last_login": {Column: "last_login"}, "birthday": {Column: "birthday"}, "opens_at": {Column: "opens_at"},
			"founded": {Column: "founded"}, "founded_text": {Column: "founded", Type: TypeString},
			"balance": {Column: "balance"}, "balance_text": {Column: "balance", Type: TypeString},
			"active": {Column: "is_active", Type: TypeBoolean}, "settings": {Column: "settings"},
			"features": {Column: "features"},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_id", Attributes: map[string]AttributeSpec{"customer_plan": {Column: "plan"}}},
	}
	bob := userflow.Attributes{
		"email": "bob@example.org", "name": "Bob Ortiz", "plan": "free",
		"created_at": "2023-11-05T09:10:11.25Z", "updated_at": "2024-05-29T16:26:40Z",
		"last_login": "2024-05-29T16:26:39.5Z", "birthday": "1985-07-01T00:00:00Z", "opens_at": "09:00:00",
		"founded": json.Number("2011"), "founded_text": "2011",
		"balance": json.Number("-42.50"), "balance_text": "-42.50",
		"active": true, "settings": `{"lang":"es"}`, "features": "sso,api",
	}
	bobGroups := []userflow.GroupRequest{{ID: "31", Attributes: userflow.Attributes{"customer_plan": "free"}}}
	noSchema := Config{Object: ObjectUser, IDColumn: "id", OnDelete: OnDeleteDelete,
		Attributes: map[string]AttributeSpec{
			"email": {Column: "email"}, "name": {Column: "full_name"}, "plan": {Column: "plan"},
			"created_at": {Column: "created_at", Type: TypeDatetime}, "active": {Column: "is_active", Type: TypeBoolean},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_id"},
	}
	runMapCases(t, []mapCase{{
		name:  "create with schema",
		cfg:   withSchema,
		value: "mysql/customers_create_schema.json",
		want:  user("1004", bob, bobGroups, ms(1717000500000)),
	}, {
		name:  "snapshot read",
		cfg:   withSchema,
		value: "mysql/customers_read_schema.json",
		want:  user("1004", bob, bobGroups, ms(1716900000000)),
	}, {
		name:  "full row image, only unmapped columns changed",
		cfg:   noSchema,
		value: "mysql/customers_update_unmapped.json",
		want:  skip(ObjectUser, SkipUnchanged, "1004", ms(1717052400000)),
	}, {
		name:  "full row image, mapped columns changed",
		cfg:   noSchema,
		value: "mysql/customers_update_changed.json",
		want: user("1004", userflow.Attributes{
			"email": "bob@example.org", "name": "Bob Ortiz", "plan": "pro", "created_at": "2023-11-05T09:10:11.25Z", "active": false,
		}, []userflow.GroupRequest{{ID: "31"}}, ms(1717052460000)),
	}, {
		name:  "delete",
		cfg:   noSchema,
		value: "mysql/customers_delete.json",
		key:   "keys/mysql_customers_key.json",
		want:  del(ObjectUser, "1004", ms(1717060000000)),
	}})
}

func TestMapFlat(t *testing.T) {
	flat := func(c Config) Config { c.Format = FormatDebeziumFlat; return c }
	deleting := func(c *Config) { c.OnDelete = OnDeleteDelete }
	runMapCases(t, []mapCase{{
		name:  "update with schema, add.fields",
		cfg:   flat(pgUsers()),
		value: "flat/users_update_schema.json",
		want:  user("42", ann2Attrs, acme, ms(1717056000000)),
	}, {
		name:  "create without schema",
		cfg:   flat(pgUsersNoSchema()),
		value: "flat/users_create.json",
		want: user("42", merge(ann2NoSchemaAttrs, userflow.Attributes{
			"email": "ann@example.com", "plan": "pro", "last_seen_at": "2024-05-29T16:26:40.123456Z",
		}), acme, ms(1716990000000)),
	}, {
		name:  "snapshot read",
		cfg:   flat(pgUsersNoSchema()),
		value: "flat/users_read.json",
		want: user("42", merge(ann2NoSchemaAttrs, userflow.Attributes{
			"email": "ann@example.com", "plan": "pro", "last_seen_at": "2024-05-29T16:26:40.123456Z",
		}), acme, ms(1716980000000)),
	}, {
		name:  "unavailable values left out",
		cfg:   flat(pgUsersNoSchema()),
		value: "flat/users_update_toast.json",
		want: user("42", merge(ann2NoSchemaAttrs, userflow.Attributes{
			"bio": nil, "avatar": nil, "tags": nil, "preferences": nil,
		}), acme, ms(1717056060000)),
	}, {
		name:  "rewritten delete",
		cfg:   with(flat(pgUsersNoSchema()), deleting),
		value: "flat/users_delete_rewrite.json",
		want:  del(ObjectUser, "42", ms(1717060000000)),
	}, {
		name:  "rewritten delete with schema, ignored",
		cfg:   flat(pgUsers()),
		value: "flat/users_delete_rewrite_schema.json",
		want:  skip(ObjectUser, SkipDeleteIgnored, "42", ms(1717060000000)),
	}, {
		name:  "__deleted as a boolean",
		cfg:   with(flat(pgUsers()), deleting),
		value: `{"id":42,"email":"","__deleted":true}`,
		want:  del(ObjectUser, "42", time.Time{}),
	}, {
		name:    "op and source time from headers",
		cfg:     flat(pgUsersNoSchema()),
		value:   "flat/users_update_headers.json",
		headers: []Header{{Key: "__op", Value: []byte("u")}, {Key: "__source_ts_ms", Value: []byte("1717056000000")}},
		want:    user("42", ann2NoSchemaAttrs, acme, ms(1717056000000)),
	}, {
		name:    "delete op from a JSON-converted header",
		cfg:     with(flat(pgUsersNoSchema()), deleting),
		value:   "flat/users_update_headers.json",
		headers: []Header{{Key: "__op", Value: []byte(`"d"`)}},
		want:    del(ObjectUser, "42", time.Time{}),
	}, {
		name:  "tombstone",
		cfg:   with(flat(pgUsers()), deleting),
		key:   "keys/pg_users_key_schema.json",
		want:  Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "42", Tombstone: true},
		value: "",
	}, {
		name:  "truncate",
		cfg:   flat(pgUsers()),
		value: `{"__op":"t"}`,
		want:  skip(ObjectUser, SkipTruncate, "", time.Time{}),
	}, {
		name:    "unknown __op",
		cfg:     flat(pgUsers()),
		value:   `{"id":1,"__op":"x"}`,
		wantErr: `mapping: value.__op: unknown op "x"`,
	}, {
		name:    "bad __deleted",
		cfg:     flat(pgUsers()),
		value:   `{"id":1,"__deleted":"yes"}`,
		wantErr: `mapping: value.__deleted: want "true" or "false", got "yes"`,
	}})
}

func TestMapJSON(t *testing.T) {
	cfg := Config{Format: FormatJSON, Object: ObjectUser, IDColumn: "user_id", OnDelete: OnDeleteDelete,
		Attributes: map[string]AttributeSpec{
			"email":        {Column: "email"},
			"signed_up_at": {Column: "signed_up_at", Type: TypeDatetime},
			"plan":         {Column: "plan"},
			"seats":        {Column: "seats", Type: TypeNumber},
			"trial":        {Column: "trial", Type: TypeBoolean},
			"last_seen":    {Column: "last_seen", Type: TypeDatetime},
			"tags":         {Column: "tags"},
			"profile":      {Column: "profile"},
			"deleted_at":   {Column: "deleted_at", Null: NullSend},
			"missing":      {Column: "not_in_row", Null: NullSend},
		},
		Groups: &GroupsConfig{GroupIDColumn: "company_ids", Attributes: map[string]AttributeSpec{"source": {Column: "plan"}}},
	}
	seconds := with(cfg, func(c *Config) {
		c.Attributes = map[string]AttributeSpec{"signed_up_at": {Column: "signed_up_at", Type: TypeDatetime, Unit: UnitSeconds}}
	})
	runMapCases(t, []mapCase{{
		name:  "row",
		cfg:   cfg,
		value: "json/users.json",
		want: user("u-42", userflow.Attributes{
			"email": "ann@example.com", "signed_up_at": "2024-01-02T03:04:05.12Z", "plan": "pro", "seats": json.Number("12"),
			"trial": true, "last_seen": "2024-05-29T16:26:40.123Z", "tags": []any{"beta", "vip"},
			"profile": `{"theme":"dark"}`, "deleted_at": nil,
		}, []userflow.GroupRequest{
			{ID: "c-7", Attributes: userflow.Attributes{"source": "pro"}},
			{ID: "c-9", Attributes: userflow.Attributes{"source": "pro"}},
		}, time.Time{}),
	}, {
		name:  "numeric id, epoch seconds",
		cfg:   seconds,
		value: "json/users_numeric_id.json",
		want:  user("9007199254740993", userflow.Attributes{"signed_up_at": "2024-01-02T03:04:05Z"}, nil, time.Time{}),
	}, {
		name: "tombstone, plain key",
		cfg:  cfg,
		key:  "keys/plain_key.txt",
		want: Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "u-42", Tombstone: true},
	}, {
		name: "tombstone, JSON string key",
		cfg:  cfg,
		key:  "keys/json_string_key.json",
		want: Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "u-42", Tombstone: true},
	}, {
		name: "tombstone, object key",
		cfg:  cfg,
		key:  `{"user_id":"u-7"}`,
		want: Operation{Action: ActionDelete, Object: ObjectUser, Mode: ModeUpsert, ID: "u-7", Tombstone: true},
	}, {
		name: "tombstone, binary key",
		cfg:  cfg,
		key:  "\x00\x00\x00\x00\x01",
		want: skip(ObjectUser, SkipTombstoneNoKey, "", time.Time{}),
	}, {
		name:  "schema wrapper",
		cfg:   seconds,
		value: `{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"user_id"},{"type":"int64","optional":true,"field":"signed_up_at"}]},"payload":{"user_id":"u-1","signed_up_at":1704164645}}`,
		want:  user("u-1", userflow.Attributes{"signed_up_at": "2024-01-02T03:04:05Z"}, nil, time.Time{}),
	}, {
		name:  "a row with columns named schema and payload is a row",
		cfg:   with(seconds, func(c *Config) { c.Attributes = map[string]AttributeSpec{"s": {Column: "schema"}} }),
		value: `{"user_id":"u-1","schema":"public","payload":"{}"}`,
		want:  user("u-1", userflow.Attributes{"s": "public"}, nil, time.Time{}),
	}, {
		name:  "empty group id list is an empty list",
		cfg:   cfg,
		value: `{"user_id":"u-1","company_ids":[]}`,
		want:  user("u-1", nil, []userflow.GroupRequest{}, time.Time{}),
	}, {
		name:  "group id list is deduplicated",
		cfg:   with(cfg, func(c *Config) { c.Groups = &GroupsConfig{GroupIDColumn: "company_ids"}; c.Attributes = nil }),
		value: `{"user_id":"u-1","company_ids":["c-1",2,"c-1"]}`,
		want:  user("u-1", nil, []userflow.GroupRequest{{ID: "c-1"}, {ID: "2"}}, time.Time{}),
	}})
}

func TestMapErrors(t *testing.T) {
	cfg := Config{Object: ObjectUser, IDColumn: "id", Attributes: map[string]AttributeSpec{
		"created_at": {Column: "created_at", Type: TypeDatetime},
		"n":          {Column: "n"},
	}}
	decimal := Config{Object: ObjectUser, IDColumn: "id", Attributes: map[string]AttributeSpec{"price": {Column: "price"}}}
	decimalSchema := `{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},` +
		`{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"price"}],` +
		`"optional":true,"name":"pg.public.items.Value","field":"after"}],"name":"pg.public.items.Envelope"}`
	var decodeErr *DecodeError
	var mappingErr *MappingError
	cases := []struct {
		name, value, want string
		cfg               Config
		as                any
	}{
		{"bad JSON", `{"op":`, "mapping: decode value: cannot parse JSON: ...", cfg, &decodeErr},
		{"not an object", `[1]`, "mapping: decode value: want a JSON object, got array", cfg, &decodeErr},
		{"no op", `{"after":{"id":1}}`, "mapping: decode op: missing: not a Debezium envelope (flattened rows need format debezium-flat)", cfg, &decodeErr},
		{"op not a string", `{"op":1}`, "mapping: decode op: want a string, got 1", cfg, &decodeErr},
		{"unknown op", `{"op":"x","after":{"id":1}}`, `mapping: op: unknown op "x"`, cfg, &mappingErr},
		{"after missing", `{"op":"c","before":null}`, `mapping: decode after: want an object for op "c", got nothing`, cfg, &decodeErr},
		{"after null", `{"op":"u","after":null}`, `mapping: decode after: want an object for op "u", got null`, cfg, &decodeErr},
		{"id missing", `{"op":"c","after":{}}`, "mapping: after.id: id: missing", cfg, &mappingErr},
		{"id null", `{"op":"c","after":{"id":null}}`, "mapping: after.id: id: null", cfg, &mappingErr},
		{"id empty", `{"op":"c","after":{"id":""}}`, "mapping: after.id: id: empty string", cfg, &mappingErr},
		{"id placeholder", `{"op":"c","after":{"id":"__debezium_unavailable_value"}}`, "mapping: after.id: id: unavailable value placeholder", cfg, &mappingErr},
		{"id float", `{"op":"c","after":{"id":1.5}}`, "mapping: after.id: id: want a string or an integer, got 1.5", cfg, &mappingErr},
		{"id bool", `{"op":"c","after":{"id":true}}`, "mapping: after.id: id: want a string or an integer, got true", cfg, &mappingErr},
		{"datetime from bool", `{"op":"c","after":{"id":1,"created_at":true}}`, "mapping: after.created_at: datetime: want ISO 8601 string or epoch number, got true", cfg, &mappingErr},
		{"datetime from text", `{"op":"c","after":{"id":1,"created_at":"soon"}}`, `mapping: after.created_at: datetime: want ISO 8601 string or epoch number, got "soon"`, cfg, &mappingErr},
		{"datetime out of range", `{"op":"c","after":{"id":1,"created_at":253402300800000}}`, "mapping: after.created_at: datetime out of range (year 10000)", cfg, &mappingErr},
		{"NaN", `{"op":"c","after":{"id":1,"n":NaN}}`, "mapping: after.n: invalid number NaN", cfg, &mappingErr},
		{"nested list", `{"op":"c","after":{"id":1,"n":[[1]]}}`, "mapping: after.n: list: element 0 is not a literal: [1]", cfg, &mappingErr},
		{"bad decimal", `{"schema":` + decimalSchema + `,"payload":{"op":"c","after":{"id":1,"price":"!!"}}}`, `mapping: after.price: decimal: want base64 bytes, got "!!"`, decimal, &mappingErr},
		{"bad schema", `{"schema":{"type":"struct","fields":[{"field":"after","type":"struct"}]},"payload":{"op":"c","after":{"id":1}}}`, "mapping: decode schema.after: want a struct schema with fields", decimal, &decodeErr},
		{"envelope schema without a row", `{"schema":{"type":"struct","fields":[]},"payload":{"op":"c","after":{"id":1}}}`, "mapping: decode schema: want an envelope schema with an after or before field", decimal, &decodeErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			op, err := m.Map(Message{Value: []byte(c.value)})
			checkOperation(t, op, err)
			if err == nil {
				t.Fatalf("no error, want %s", c.want)
			}
			got, want := err.Error(), c.want
			if prefix, ok := strings.CutSuffix(want, "..."); ok { // the rest is fastjson's
				got, want = got[:min(len(got), len(prefix))], prefix
			}
			if got != want {
				t.Fatalf("error:\n got: %v\nwant: %s", err, c.want)
			}
			if !errors.As(err, c.as) || errors.Unwrap(err) == nil {
				t.Errorf("error is %T, want %T wrapping the cause", err, c.as)
			}
		})
	}
}

// TestUnchangedNeedsCompleteBefore: an update is skipped only when before
// holds every mapped column and none is unavailable.
func TestUnchangedNeedsCompleteBefore(t *testing.T) {
	m, err := New(Config{Object: ObjectUser, IDColumn: "id", Attributes: map[string]AttributeSpec{"bio": {Column: "bio"}, "n": {Column: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		before, after string
		skipped       bool
	}{
		{`{"id":1,"bio":"x","n":1}`, `{"id":1,"bio":"x","n":1}`, true},
		{`{"id":1,"bio":"x","n":1,"other":1}`, `{"id":1,"bio":"x","n":1,"other":2}`, true},
		{`{"id":1,"bio":"x","n":{"a":[1,"\u00e9"]}}`, `{"id":1,"bio":"x","n":{"a":[1,"é"]}}`, true},
		{`{"id":1,"bio":"x"}`, `{"id":1,"bio":"x"}`, false}, // n absent: incomplete
		{`{"id":1,"bio":"__debezium_unavailable_value","n":1}`, `{"id":1,"bio":"__debezium_unavailable_value","n":1}`, false},
		{`{"id":1,"bio":"x","n":1}`, `{"id":1,"bio":"x","n":1.0}`, false},
		{`{"id":1,"bio":"x","n":{"a":1}}`, `{"id":1,"bio":"x","n":{"a":2}}`, false},
		{`{"id":1,"bio":"x","n":[1]}`, `{"id":1,"bio":"x","n":[1,2]}`, false},
		{`{"id":1,"bio":null,"n":1}`, `{"id":1,"bio":"x","n":1}`, false},
		{`null`, `{"id":1,"bio":"x","n":1}`, false},
	}
	for _, c := range cases {
		op, err := m.Map(Message{Value: []byte(`{"op":"u","before":` + c.before + `,"after":` + c.after + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if skipped := op.Action == ActionSkip; skipped != c.skipped {
			t.Errorf("before %s after %s: skipped %v, want %v", c.before, c.after, skipped, c.skipped)
		}
	}
}

// TestMapConcurrent maps from many goroutines with one Mapper (run with
// -race).
func TestMapConcurrent(t *testing.T) {
	m, err := New(pgUsers())
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Value: testdata(t, "postgres/users_update_schema.json")},
		{Value: testdata(t, "postgres/users_create_schema.json")},
		{Key: testdata(t, "keys/pg_users_key.json")},
	}
	want := make([]Operation, len(msgs))
	for i, msg := range msgs {
		if want[i], err = m.Map(msg); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := (g + i) % len(msgs)
				got, err := m.Map(msgs[j])
				if err != nil {
					t.Error(err)
					return
				}
				if diff := cmp.Diff(want[j], got); diff != "" {
					t.Errorf("concurrent Map (-want +got):\n%s", diff)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestMapDoesNotKeepInput: the Operation shares no memory with the message
// or the mapper's parsers.
func TestMapDoesNotKeepInput(t *testing.T) {
	m, err := New(pgUsers())
	if err != nil {
		t.Fatal(err)
	}
	value := testdata(t, "postgres/users_create_schema.json")
	op, err := m.Map(Message{Value: value})
	if err != nil {
		t.Fatal(err)
	}
	want := user("42", annAttrs, acme, ms(1716990000000))
	for i := range value {
		value[i] = 'x'
	}
	if _, err := m.Map(Message{Value: testdata(t, "postgres/users_update_schema.json")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, op); diff != "" {
		t.Errorf("operation changed after its input was reused (-want +got):\n%s", diff)
	}
}

// TestSchemaCache: a value whose schema the Mapper has seen maps exactly as
// a full parse maps it, and anything that is not the same schema, byte for
// byte, takes the full parse.
func TestSchemaCache(t *testing.T) {
	update := string(testdata(t, "postgres/users_update_schema.json"))
	create := string(testdata(t, "postgres/users_create_schema.json"))
	fresh := func() *Mapper {
		m, err := New(pgUsers())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cached := fresh()
	if _, err := cached.Map(Message{Value: []byte(update)}); err != nil {
		t.Fatal(err)
	}
	if cached.schemas.Load() == nil {
		t.Fatal("schema not remembered")
	}
	spaced := strings.Replace(update, `{"schema":`, `{ "schema": `, 1)
	cases := []string{
		update,
		create,
		update + "\n",
		spaced,
		strings.Replace(update, `"field":"email"`, `"field":"email_address"`, 1), // another schema
		strings.Replace(update, `"op":"u"`, `"op":"u"},"extra":{`, 1),            // not a wrapper
		update[:len(update)-10] + `}`,                                            // truncated
		strings.Replace(update, `"payload":{`, `"payload":null,"x":{`, 1),
	}
	for i, value := range cases {
		want, wantErr := fresh().Map(Message{Value: []byte(value)})
		got, err := cached.Map(Message{Value: []byte(value)})
		if diff := cmp.Diff(want, got); diff != "" || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("case %d: cached %v, %v; fresh %v, %v; diff:\n%s", i, got.Action, err, want.Action, wantErr, diff)
		}
	}
	if n := len(cached.schemas.Load().entries); n != 2 {
		t.Errorf("%d schemas remembered, want 2 (the spaced one is not compact)", n)
	}
}
