// Package chaos proves userflow-sync under faults: it runs the built binary
// as OS processes against a Kafka broker on 127.0.0.1 (cmd/kfake as a
// process, or KAFKA_BROKERS) and the fake Userflow as its own process, drives
// a generated Debezium workload through them while a scenario injects faults,
// and checks the recorded history like Jepsen's queue checker: nothing lost,
// no older version applied after a newer one, the exact final state, offsets
// never committed backwards, the exact dead letters. See docs/chaos.md.
//
// This file generates the workload and what it must lead to; checker.go
// judges a history; the scenarios are in chaos_test.go.
package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Topics of the workload, as named in the config; Workload.Topic maps them
// to the broker's names.
const (
	TopicUsers       = "chaos.users"
	TopicCompanies   = "chaos.companies"
	TopicMemberships = "chaos.memberships"
	TopicDLQ         = "chaos.dlq"
)

// Partitions of each topic.
var Partitions = map[string]int{TopicUsers: 4, TopicCompanies: 2, TopicMemberships: 2, TopicDLQ: 1}

// Kind is what an event must lead to.
type Kind int

const (
	KindUpsert     Kind = iota // a row created or updated: an upsert carrying its version
	KindDelete                 // a row deleted (op d): a DELETE of the object
	KindTombstone              // the null value after a delete: a DELETE again (idempotent)
	KindDecode                 // a value that is not JSON: dead-lettered, class decode
	KindMapping                // a row with a null id: dead-lettered, class mapping
	KindRejected               // an event of an id Userflow refuses (400): dead-lettered, class userflow_rejected
	KindMembership             // a membership row: the user's membership carries its version
)

func (k Kind) String() string {
	return [...]string{"upsert", "delete", "tombstone", "decode", "mapping", "rejected", "membership"}[k]
}

// DeadLetterClass is the class a dead-lettered kind must carry, "" for the
// kinds that must not be dead-lettered.
func (k Kind) DeadLetterClass() string {
	switch k {
	case KindDecode:
		return "decode"
	case KindMapping:
		return "mapping"
	case KindRejected:
		return "userflow_rejected"
	}
	return ""
}

// Event is one generated Kafka record and what it means.
type Event struct {
	Topic string // as in the config (TopicUsers...)
	Key   []byte
	Value []byte // nil for a tombstone
	Kind  Kind
	// Entity is the object the version is counted on: "user/u-1",
	// "group/c-1", or "membership/m-1/mg-2".
	Entity string
	// Version increases by one with every event of the entity (a delete and
	// its tombstone share one). 0 for poison events.
	Version int
}

// WorkloadConfig sizes a workload.
type WorkloadConfig struct {
	Seed            uint64
	Users           int     // user keys u-0…
	Companies       int     // group keys c-0…
	MembershipUsers int     // users m-0…, each with memberships in groups mg-0…mg-3
	Rejected        int     // user keys u-bad-0… that the fake refuses
	MaxVersions     int     // events per entity: 2…MaxVersions (before deletes)
	DeleteRate      float64 // fraction of users and companies deleted (then recreated half the time)
	PoisonRate      float64 // poison events per good event
}

// Workload is the generated events in production order (each entity's
// events in version order, entities interleaved at random) and the state
// they must leave.
type Workload struct {
	Events []Event
	// Final is the expected last state of every entity: its last version and
	// whether it exists.
	Final map[string]Final
	// RejectedIDs are the ids the fake must refuse.
	RejectedIDs []string
}

// Final is the expected end state of an entity.
type Final struct {
	Version int
	Exists  bool
}

// Generate builds a workload; the same config gives the same events.
func Generate(cfg WorkloadConfig) *Workload {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w := &Workload{Final: map[string]Final{}}
	g := &envelopes{}
	envelope := g.envelope
	var scripts [][]Event
	row := func(table, id string, v int) map[string]any {
		return map[string]any{"id": id, "name": fmt.Sprintf("%s %s v%d", table, id, v), "version": v}
	}
	entity := func(table, object, id string, rejected bool) []Event {
		topic := map[string]string{"users": TopicUsers, "companies": TopicCompanies}[table]
		ent := object + "/" + id
		key := debeziumKey(map[string]any{"id": id})
		var evs []Event
		v := 0
		add := func(op string, before, after map[string]any, kind Kind) {
			evs = append(evs, Event{Topic: topic, Key: key, Value: envelope(table, op, before, after), Kind: kind, Entity: ent, Version: v})
		}
		kindOf := func(k Kind) Kind {
			if rejected {
				return KindRejected
			}
			return k
		}
		n := 2 + rng.IntN(max(1, cfg.MaxVersions-1))
		for i := range n {
			v++
			op := "u"
			if i == 0 {
				op = "c"
			}
			add(op, nil, row(table, id, v), kindOf(KindUpsert))
		}
		final := Final{Version: v, Exists: true}
		if !rejected && rng.Float64() < cfg.DeleteRate {
			// Default REPLICA IDENTITY: the before image holds the key only.
			v++
			add("d", map[string]any{"id": id, "name": nil, "version": nil}, nil, KindDelete)
			evs = append(evs, Event{Topic: topic, Key: key, Kind: KindTombstone, Entity: ent, Version: v})
			final = Final{Version: v, Exists: false}
			if rng.IntN(2) == 0 { // recreated
				for i := range 1 + rng.IntN(3) {
					v++
					op := "u"
					if i == 0 {
						op = "c"
					}
					add(op, nil, row(table, id, v), KindUpsert)
				}
				final = Final{Version: v, Exists: true}
			}
		}
		if !rejected {
			w.Final[ent] = final
		}
		return evs
	}
	for i := range cfg.Users {
		scripts = append(scripts, entity("users", "user", "u-"+strconv.Itoa(i), false))
	}
	for i := range cfg.Rejected {
		id := "u-bad-" + strconv.Itoa(i)
		w.RejectedIDs = append(w.RejectedIDs, id)
		scripts = append(scripts, entity("users", "user", id, true))
	}
	for i := range cfg.Companies {
		scripts = append(scripts, entity("companies", "group", "c-"+strconv.Itoa(i), false))
	}
	for i := range cfg.MembershipUsers {
		user := "m-" + strconv.Itoa(i)
		for j := range 1 + rng.IntN(3) {
			group := "mg-" + strconv.Itoa(j)
			ent := "membership/" + user + "/" + group
			key := debeziumKey(map[string]any{"user_id": user, "company_id": group})
			var evs []Event
			n := 2 + rng.IntN(max(1, cfg.MaxVersions-1))
			for v := 1; v <= n; v++ {
				op := "u"
				if v == 1 {
					op = "c"
				}
				after := map[string]any{"user_id": user, "company_id": group, "role": "member", "version": v}
				evs = append(evs, Event{Topic: TopicMemberships, Key: key, Value: envelope("memberships", op, nil, after), Kind: KindMembership, Entity: ent, Version: v})
			}
			w.Final[ent] = Final{Version: n, Exists: true}
			w.Final["user/"+user] = Final{Exists: true}
			w.Final["group/"+group] = Final{Exists: true}
			scripts = append(scripts, evs)
		}
	}
	// Interleave: repeatedly take the next event of a random unfinished
	// script, so each entity's events stay in order.
	total := 0
	for _, s := range scripts {
		total += len(s)
	}
	w.Events = make([]Event, 0, total+int(float64(total)*cfg.PoisonRate)+1)
	for len(scripts) > 0 {
		i := rng.IntN(len(scripts))
		w.Events = append(w.Events, scripts[i][0])
		if scripts[i] = scripts[i][1:]; len(scripts[i]) == 0 {
			scripts[i] = scripts[len(scripts)-1]
			scripts = scripts[:len(scripts)-1]
		}
		if rng.Float64() < cfg.PoisonRate {
			w.Events = append(w.Events, poison(rng, g, len(w.Events)))
		}
	}
	return w
}

// poison is an event that must be dead-lettered: a value that is not JSON,
// or a row whose id is null. Each is unique (n) so that it can be found again.
func poison(rng *rand.Rand, g *envelopes, n int) Event {
	id := "u-poison-" + strconv.Itoa(n)
	key := debeziumKey(map[string]any{"id": id})
	if rng.IntN(2) == 0 {
		return Event{Topic: TopicUsers, Key: key, Value: []byte(`{"before":null,"after":{"id":"` + id + `"`), Kind: KindDecode}
	}
	after := map[string]any{"id": nil, "name": "poison " + strconv.Itoa(n), "version": 1}
	return Event{Topic: TopicUsers, Key: key, Value: g.envelope("users", "u", nil, after), Kind: KindMapping}
}

func debeziumKey(fields map[string]any) []byte {
	b, _ := json.Marshal(fields) // cannot fail: strings
	return b
}

// envelopes builds Debezium PostgreSQL change events without schemas (the
// JSON converter with schemas.enable=false). Its lsn makes every envelope
// unique, so a record read back from Kafka is found by its bytes.
type envelopes struct{ lsn int64 }

func (g *envelopes) envelope(table, op string, before, after map[string]any) []byte {
	g.lsn++
	lsn := g.lsn
	source := map[string]any{"version": "2.7.3.Final", "connector": "postgresql", "name": "chaos",
		"ts_ms": 1717060000000 + lsn, "snapshot": "false", "db": "app", "schema": "public", "table": table, "lsn": lsn}
	b, err := json.Marshal(map[string]any{"before": before, "after": after, "source": source, "op": op, "ts_ms": 1717060000000 + lsn})
	if err != nil {
		panic(err) // maps of strings and numbers
	}
	return b
}

// Messages returns the events of one topic as Kafka messages, in order.
func (w *Workload) Messages(topic string) []kafka.Message {
	var out []kafka.Message
	for _, e := range w.Events {
		if e.Topic == topic {
			out = append(out, kafka.Message{Key: e.Key, Value: e.Value})
		}
	}
	return out
}
