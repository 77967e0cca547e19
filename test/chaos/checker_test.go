package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/config"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

func smallWorkload() *Workload {
	return Generate(WorkloadConfig{Seed: 7, Users: 40, Companies: 15, MembershipUsers: 10, Rejected: 2,
		MaxVersions: 6, DeleteRate: 0.3, PoisonRate: 0.05})
}

func identity(s string) string { return s }

// instanceHeader is a RoundTripper that names the process, as the
// scenarios' proxies do.
type instanceHeader struct {
	name string
	next http.RoundTripper
}

func (h instanceHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(InstanceHeader, h.name)
	return h.next.RoundTrip(r)
}

// simulate plays the workload through the real mapping (with the chaos
// configuration) and the userflow client against the fake, one event at a
// time, as a perfect consumer would, and records the history. It also
// proves the workload means what it says: every event's mapping outcome
// must be the one its Kind promises.
func simulate(t *testing.T, w *Workload) History {
	t.Helper()
	const key = "ak_chaos_test"
	srv := userflowtest.NewServer(userflowtest.Options{APIKey: key, Faults: userflowtest.Faults{PermanentBadIDs: w.RejectedIDs}})
	t.Cleanup(srv.Close)
	cfg, err := config.Parse([]byte(Config(Settings{Brokers: []string{"127.0.0.1:9"}, GroupID: "g", Topic: identity, Userflow: srv.URL, APIKey: key})), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the chaos configuration: %v", err)
	}
	mappers := map[string]*mapping.Mapper{}
	for _, s := range cfg.Syncs {
		if mappers[s.Topic], err = mapping.New(s.Mapping); err != nil {
			t.Fatal(err)
		}
	}
	client, err := userflow.NewClient(srv.URL, key, userflow.WithHTTPClient(&http.Client{Transport: instanceHeader{"1", http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	h := History{Records: map[string][]kafka.Message{}, End: map[TopicPartition]int64{}, TopicName: map[string]string{}}
	for topic := range Partitions {
		h.TopicName[topic] = topic
	}
	ctx := context.Background()
	deadLetter := func(m kafka.Message, class string) {
		h.DeadLetters = append(h.DeadLetters, kafka.Message{Key: m.Key, Value: m.Value, Headers: []kafka.Header{
			{Key: consumer.HeaderSourceTopic, Value: []byte(m.Topic)},
			{Key: consumer.HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
			{Key: consumer.HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			{Key: consumer.HeaderErrorClass, Value: []byte(class)},
		}})
	}
	for i, e := range w.Events {
		p := int(crc32.ChecksumIEEE(e.Key)) % Partitions[e.Topic]
		tp := TopicPartition{e.Topic, p}
		m := kafka.Message{Topic: e.Topic, Partition: p, Offset: h.End[tp], Key: e.Key, Value: e.Value}
		h.End[tp]++
		h.Records[e.Topic] = append(h.Records[e.Topic], m)

		op, mapErr := mappers[e.Topic].Map(mapping.Message{Key: e.Key, Value: e.Value})
		var err error // Userflow's answer
		var de *mapping.DecodeError
		var me *mapping.MappingError
		got := ""
		switch {
		case errors.As(mapErr, &de):
			got = "decode"
		case errors.As(mapErr, &me):
			got = "mapping"
		case mapErr != nil:
			t.Fatalf("event %d: %v", i, mapErr)
		case op.Action == mapping.ActionDelete && op.Object == mapping.ObjectUser:
			got = "delete"
			_, err = client.Users.Delete(ctx, op.ID)
		case op.Action == mapping.ActionDelete:
			got = "delete"
			_, err = client.Groups.Delete(ctx, op.ID)
		case op.Action == mapping.ActionUpsert && op.User != nil:
			got = "upsert"
			if len(op.User.Memberships) > 0 {
				got = "membership"
			}
			_, _, err = client.Users.Upsert(ctx, op.User)
		case op.Action == mapping.ActionUpsert:
			got = "upsert"
			_, _, err = client.Groups.Upsert(ctx, op.Group)
		default:
			t.Fatalf("event %d (%s): skipped: %v", i, e.Kind, op.Skip)
		}
		switch {
		case userflow.IsNotFound(err) && got == "delete":
		case err != nil && userflow.IsRetryable(err):
			t.Fatalf("event %d: %v", i, err)
		case err != nil:
			got = "rejected"
		}
		want := e.Kind.String()
		if e.Kind == KindTombstone {
			want = "delete"
		}
		if got != want {
			t.Errorf("event %d of %s: maps to %s, its kind is %s", i, e.Entity, got, e.Kind)
		}
		if class := e.Kind.DeadLetterClass(); class != "" {
			deadLetter(m, class)
		}
	}
	h.Requests = srv.Requests()
	h.State = srv.State()
	for tp, end := range h.End {
		h.Commits = append(h.Commits, CommitSample{tp, -1}, CommitSample{tp, end / 2}, CommitSample{tp, end})
	}
	return h
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := smallWorkload(), smallWorkload()
	if len(a.Events) != len(b.Events) {
		t.Fatalf("%d events, then %d", len(a.Events), len(b.Events))
	}
	for i := range a.Events {
		if string(a.Events[i].Value) != string(b.Events[i].Value) {
			t.Fatalf("event %d differs", i)
		}
	}
	kinds := map[Kind]int{}
	for _, e := range a.Events {
		kinds[e.Kind]++
	}
	for k := KindUpsert; k <= KindMembership; k++ {
		if kinds[k] == 0 {
			t.Errorf("no %s event in the workload: %v", k, kinds)
		}
	}
}

// A perfect run passes, and each kind of damage to its history is found and
// counted where it belongs.
func TestCheck(t *testing.T) {
	w := smallWorkload()
	base := simulate(t, w)
	if r := Check(w, base); r.Failed() || r.Duplicates+r.Replays != 0 || r.DeadLetters == 0 || r.Writes == 0 {
		t.Fatalf("a perfect history: %+v", r)
	}

	// Find two applied upserts of one group: older, then newer.
	var older, newer int
	found := false
	byID := map[string]int{}
	for i, q := range base.Requests {
		if q.Applied == 0 || q.Method != http.MethodPost || q.Status >= 300 || q.Path != "/groups" {
			continue
		}
		id := bodyID(t, q)
		if j, ok := byID[id]; ok {
			older, newer, found = j, i, true
		}
		byID[id] = i
	}
	if !found {
		t.Fatal("no group was upserted twice")
	}
	clone := func() History {
		h := base
		h.Requests = slices.Clone(base.Requests)
		h.DeadLetters = slices.Clone(base.DeadLetters)
		h.Commits = slices.Clone(base.Commits)
		return h
	}

	tests := []struct {
		name  string
		edit  func(h *History)
		check func(r Result) bool
	}{
		{"a group's two upserts swapped by one process", func(h *History) {
			h.Requests[older].Applied, h.Requests[newer].Applied = h.Requests[newer].Applied, h.Requests[older].Applied
		}, func(r Result) bool { return r.OrderViolated == 1 && r.Failed() }},
		{"the same swap, the older one by another process: a replay", func(h *History) {
			h.Requests[older].Applied, h.Requests[newer].Applied = h.Requests[newer].Applied, h.Requests[older].Applied
			h.Requests[older].Header = h.Requests[older].Header.Clone()
			h.Requests[older].Header.Set(InstanceHeader, "2")
		}, func(r Result) bool { return r.OrderViolated == 0 && r.Replays == 1 && !r.Failed() }},
		{"the same swap with a new pass of the process between: a replay", func(h *History) {
			a, b := &h.Requests[older], &h.Requests[newer]
			a.Applied, b.Applied = b.Applied, a.Applied
			a.Time, b.Time = b.Time.Add(2*time.Millisecond), a.Time
			h.Passes = map[string][]time.Time{"1": {b.Time.Add(time.Millisecond)}}
		}, func(r Result) bool { return r.OrderViolated == 0 && r.Replays == 1 && !r.Failed() }},
		{"a request applied twice", func(h *History) {
			q := h.Requests[newer]
			q.Applied = 1 << 40
			h.Requests = append(h.Requests, q)
		}, func(r Result) bool { return r.Duplicates == 1 && !r.Failed() }},
		{"the last upsert of every entity lost", func(h *History) {
			seen := map[string]bool{}
			for i := len(h.Requests) - 1; i >= 0; i-- {
				q := h.Requests[i]
				if q.Method != http.MethodPost || q.Status >= 300 {
					continue
				}
				if k := q.Path + bodyID(t, q); !seen[k] {
					seen[k] = true
					h.Requests[i].Status = http.StatusInternalServerError
				}
			}
		}, func(r Result) bool { return r.Lost > 10 && r.Failed() }},
		{"a user missing from the state", func(h *History) {
			h.State.Users = map[string]userflowtest.User{}
		}, func(r Result) bool { return r.StateWrong > 10 && r.Lost == 0 && r.Failed() }},
		{"a stray group in the state", func(h *History) {
			h.State.Groups = maps.Clone(h.State.Groups)
			h.State.Groups["stray"] = userflowtest.Group{ID: "stray"}
		}, func(r Result) bool { return r.StateWrong == 1 && r.Failed() }},
		{"a dead letter missing", func(h *History) { h.DeadLetters = h.DeadLetters[1:] },
			func(r Result) bool { return r.DLQWrong == 1 && r.Lost == 1 && r.Failed() }},
		{"a dead letter twice", func(h *History) { h.DeadLetters = append(h.DeadLetters, h.DeadLetters[0]) },
			func(r Result) bool { return r.Duplicates == 1 && !r.Failed() }},
		{"a dead letter with the wrong class", func(h *History) {
			d := h.DeadLetters[0]
			d.Headers = append(slices.Clone(d.Headers[:3]), kafka.Header{Key: consumer.HeaderErrorClass, Value: []byte("retries_exhausted")})
			h.DeadLetters[0] = d
		}, func(r Result) bool { return r.DLQWrong == 1 && r.Failed() }},
		{"a commit moving back", func(h *History) {
			c := h.Commits[1]
			c.Offset = -1
			h.Commits = slices.Insert(h.Commits, 2, c)
		}, func(r Result) bool { return r.CommitsBack == 1 && r.Failed() }},
		{"a partition not committed to its end", func(h *History) { h.Commits = h.Commits[:len(h.Commits)-1] },
			func(r Result) bool { return r.CommitsShort == 1 && r.Failed() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := clone()
			tc.edit(&h)
			if r := Check(w, h); !tc.check(r) {
				t.Errorf("%+v", r)
			}
		})
	}
}

func bodyID(t *testing.T, q userflowtest.Request) string {
	var b struct{ ID string }
	if err := json.Unmarshal(q.Body, &b); err != nil {
		t.Fatalf("request %d: %v", q.Seq, err)
	}
	return b.ID
}
