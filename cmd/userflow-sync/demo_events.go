package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// demoData is the demo's sample change stream: what Debezium's PostgreSQL
// connector would emit (JSON converter, schemas off) for a small app.
type demoData struct {
	companies, users, memberships []kafka.Message
	// What Userflow must hold at the end, and what must be dead-lettered.
	wantUsers, wantGroups, wantMemberships, wantDeadLetters int
}

const (
	demoUsers     = 24
	demoCompanies = 4
)

// newDemoData builds the stream: companies, users and memberships created,
// bursts of updates to some users (which coalesce), an update of a column no
// attribute uses (skipped), deletes followed by their tombstones, and two
// poison events.
func newDemoData(start time.Time) demoData {
	var d demoData
	clock := start.Add(-time.Hour)
	tick := func() int64 { clock = clock.Add(time.Second); return clock.UnixMilli() }
	plans := []string{"free", "starter", "pro", "enterprise"}

	company := func(id int, plan string) map[string]any {
		return map[string]any{"id": id, "name": fmt.Sprintf("Company %d", id), "plan": plan, "created_at": start.Add(-time.Duration(id) * 24 * time.Hour).UnixMicro()}
	}
	for c := 1; c <= demoCompanies; c++ {
		d.companies = append(d.companies, change("companies", c, "c", nil, company(c, "free"), tick()))
	}
	for c := 1; c <= demoCompanies; c++ {
		d.companies = append(d.companies, change("companies", c, "u", company(c, "free"), company(c, plans[c%len(plans)]), tick()))
	}
	d.companies = append(d.companies, change("companies", 4, "d", company(4, plans[0]), nil, tick()), tombstone(4))

	user := func(id int, plan string, seen int) map[string]any {
		return map[string]any{"id": id, "email": fmt.Sprintf("user%d@example.com", id), "full_name": fmt.Sprintf("User %d", id),
			"plan": plan, "created_at": start.Add(-time.Duration(id) * time.Hour).UnixMicro(), "last_seen_at": seen}
	}
	for u := 1; u <= demoUsers; u++ {
		d.users = append(d.users, change("users", u, "c", nil, user(u, "free", 0), tick()))
	}
	// A burst of plan changes for half the users: three updates each, which
	// the pipeline coalesces into one request per user.
	for round := 1; round <= 3; round++ {
		for u := 1; u <= demoUsers/2; u++ {
			d.users = append(d.users, change("users", u, "u", user(u, plans[round-1], 0), user(u, plans[round], 0), tick()))
		}
	}
	// A column no attribute maps: with a full before image this is skipped.
	d.users = append(d.users, change("users", 13, "u", user(13, "free", 0), user(13, "free", 1), tick()))
	// Two users leave: delete, then the tombstone Debezium writes after it.
	for _, u := range []int{23, 24} {
		d.users = append(d.users, change("users", u, "d", user(u, "free", 0), nil, tick()), tombstone(u))
	}
	// Poison: a truncated message, and a row without its id.
	d.users = append(d.users,
		kafka.Message{Key: []byte(`{"id":999}`), Value: []byte(`{"before":null,"after":{"id":999,"email":`)},
		change("users", 998, "c", nil, map[string]any{"email": "no-id@example.com"}, tick()))

	for u := 1; u <= demoUsers-2; u++ {
		row := map[string]any{"id": u, "user_id": u, "company_id": 1 + u%(demoCompanies-1), "role": "member"}
		d.memberships = append(d.memberships, change("memberships", u, "c", nil, row, tick()))
	}
	for u := 1; u <= 3; u++ {
		before := map[string]any{"id": u, "user_id": u, "company_id": 1 + u%(demoCompanies-1), "role": "member"}
		after := map[string]any{"id": u, "user_id": u, "company_id": 1 + u%(demoCompanies-1), "role": "admin"}
		d.memberships = append(d.memberships, change("memberships", u, "u", before, after, tick()))
	}

	d.wantUsers = demoUsers - 2
	d.wantGroups = demoCompanies - 1
	d.wantMemberships = demoUsers - 2
	d.wantDeadLetters = 2
	return d
}

// change is one Debezium change event for a row of table, keyed by id.
func change(table string, id int, op string, before, after map[string]any, tsMs int64) kafka.Message {
	value := map[string]any{
		"before": before,
		"after":  after,
		"source": map[string]any{
			"version": "2.7.0.Final", "connector": "postgresql", "name": "demo", "ts_ms": tsMs,
			"snapshot": "false", "db": "app", "schema": "public", "table": table,
		},
		"op":          op,
		"ts_ms":       tsMs + 40,
		"transaction": nil,
	}
	v, err := json.Marshal(value)
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return kafka.Message{Key: fmt.Appendf(nil, `{"id":%d}`, id), Value: v}
}

// tombstone is the null-valued record Debezium writes after a delete.
func tombstone(id int) kafka.Message {
	return kafka.Message{Key: fmt.Appendf(nil, `{"id":%d}`, id)}
}
