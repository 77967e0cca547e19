package mapping

import "testing"

// benchmarkMap maps one message b.N times on one goroutine and reports
// events/s: the per-core throughput.
func benchmarkMap(b *testing.B, cfg Config, msg Message, want Action) {
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	op, err := m.Map(msg)
	if err != nil || op.Action != want {
		b.Fatalf("Map: %v, %v; want %v", op.Action, err, want)
	}
	b.SetBytes(int64(len(msg.Key) + len(msg.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMapDebeziumUpdateWithSchema: a PostgreSQL update of a 16-column
// row with the JSON converter's schema (5.3 KB), 13 attributes and a group,
// as a stream of them maps: the schema is known after the first message.
func BenchmarkMapDebeziumUpdateWithSchema(b *testing.B) {
	benchmarkMap(b, pgUsers(), Message{Key: testdata(b, "keys/pg_users_key_schema.json"), Value: testdata(b, "postgres/users_update_schema.json")}, ActionUpsert)
}

// BenchmarkMapDebeziumUpdateWithSchemaUncached: the same, with the schema
// cache emptied before every message: the cost of a message whose schema
// the Mapper has not seen (the first of a table, or after a schema change).
func BenchmarkMapDebeziumUpdateWithSchemaUncached(b *testing.B) {
	m, err := New(pgUsers())
	if err != nil {
		b.Fatal(err)
	}
	msg := Message{Value: testdata(b, "postgres/users_update_schema.json")}
	b.SetBytes(int64(len(msg.Value)))
	b.ReportAllocs()
	for b.Loop() {
		m.schemas.Store(nil)
		if _, err := m.Map(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMapDebeziumUpdate: the same update without schemas (0.8 KB).
func BenchmarkMapDebeziumUpdate(b *testing.B) {
	benchmarkMap(b, pgUsersNoSchema(), Message{Key: testdata(b, "keys/pg_users_key.json"), Value: testdata(b, "postgres/users_update.json")}, ActionUpsert)
}

// BenchmarkMapDebeziumUnchanged: a REPLICA IDENTITY FULL update that changed
// no mapped column, so it is skipped.
func BenchmarkMapDebeziumUnchanged(b *testing.B) {
	benchmarkMap(b, pgUsers(), Message{Value: testdata(b, "postgres/users_update_full_unmapped_schema.json")}, ActionSkip)
}

// BenchmarkMapDebeziumFlat: the update flattened by ExtractNewRecordState,
// with its schema.
func BenchmarkMapDebeziumFlat(b *testing.B) {
	cfg := pgUsers()
	cfg.Format = FormatDebeziumFlat
	benchmarkMap(b, cfg, Message{Value: testdata(b, "flat/users_update_schema.json")}, ActionUpsert)
}

// BenchmarkMapJSON: a plain JSON row with typed attributes.
func BenchmarkMapJSON(b *testing.B) {
	cfg := Config{Format: FormatJSON, Object: ObjectUser, IDColumn: "user_id", Attributes: map[string]AttributeSpec{
		"email": {Column: "email"}, "signed_up_at": {Column: "signed_up_at", Type: TypeDatetime}, "plan": {Column: "plan"},
		"seats": {Column: "seats", Type: TypeNumber}, "trial": {Column: "trial", Type: TypeBoolean},
		"last_seen": {Column: "last_seen", Type: TypeDatetime}, "tags": {Column: "tags"},
	}, Groups: &GroupsConfig{GroupIDColumn: "company_ids"}}
	benchmarkMap(b, cfg, Message{Value: testdata(b, "json/users.json")}, ActionUpsert)
}

// BenchmarkMapDebeziumUpdateWithSchemaParallel: one Mapper shared by
// GOMAXPROCS goroutines.
func BenchmarkMapDebeziumUpdateWithSchemaParallel(b *testing.B) {
	m, err := New(pgUsers())
	if err != nil {
		b.Fatal(err)
	}
	msg := Message{Value: testdata(b, "postgres/users_update_schema.json")}
	b.SetBytes(int64(len(msg.Value)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Map(msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
