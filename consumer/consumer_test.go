package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/kafkatest"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

const apiKey = "ak_consumer_e2e"

type harness struct {
	t      *testing.T
	broker *kafkatest.Broker
	fake   *userflowtest.Server
	client *userflow.Client
	users  string
	dlq    string
	group  string
	parts  int
	mapper *mapping.Mapper
	mutate func(*consumer.Config)
}

func newHarness(t *testing.T, faults userflowtest.Faults) *harness {
	t.Helper()
	const parts = 3
	b := kafkatest.Start(t, map[string]int{"users": parts, "dlq": 1})
	fake := userflowtest.NewServer(userflowtest.Options{APIKey: apiKey, Faults: faults})
	t.Cleanup(fake.Close)
	client, err := userflow.NewClient(fake.URL, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.New(mapping.Config{
		Format: mapping.FormatJSON, Object: mapping.ObjectUser, IDColumn: "id",
		Attributes: map[string]mapping.AttributeSpec{"name": {Column: "name"}, "version": {Column: "version"}},
		OnDelete:   mapping.OnDeleteDelete,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, broker: b, fake: fake, client: client, users: b.Topic("users"), dlq: b.Topic("dlq"),
		group: fmt.Sprintf("g-%s", t.Name()), parts: parts, mapper: m}
}

func (h *harness) config() consumer.Config {
	cfg := consumer.Config{
		Brokers: h.broker.Brokers, GroupID: h.group,
		Syncs:             []consumer.Sync{{Name: "users", Topic: h.users, Mapper: h.mapper}},
		DeadLetterTopic:   h.dlq,
		MaxInFlight:       4,
		BatchMaxWait:      20 * time.Millisecond,
		CommitInterval:    50 * time.Millisecond,
		DrainTimeout:      time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    2 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		FetchMaxWait:      200 * time.Millisecond,
		Retry:             consumer.RetryConfig{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond},
	}
	if h.mutate != nil {
		h.mutate(&cfg)
	}
	return cfg
}

// start runs a consumer until the returned cancel is called; wait returns
// Run's error.
func (h *harness) start() (c *consumer.Consumer, stop func() error) {
	h.t.Helper()
	return h.startWith(zaptest.NewLogger(h.t))
}

// startWith is start with the consumer logging to log.
func (h *harness) startWith(log *zap.Logger) (c *consumer.Consumer, stop func() error) {
	h.t.Helper()
	c, err := consumer.New(h.config(), h.client, log)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	var runErr error
	stop = func() error {
		if !stopped {
			cancel()
			runErr, stopped = <-done, true
		}
		return runErr
	}
	h.t.Cleanup(func() { _ = stop() })
	return c, stop
}

func user(id string, version int) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"name":"name-%d","version":%d}`, id, version, version)}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) committedTotal() int64 {
	var sum int64
	for _, off := range h.broker.Committed(h.t, h.group, h.users, h.parts) {
		if off > 0 {
			sum += off
		}
	}
	return sum
}

// The whole path: many keys, several versions each, a poison message and an
// event Userflow rejects. Every key ends at its last version, ten updates to
// one user in a window become one request, exactly the two bad events are
// dead-lettered with their reason, and the committed offsets cover
// everything once the consumer stops.
func TestConsumerEndToEnd(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{PermanentBadIDs: []string{"rejected"}})
	const keys, versions = 50, 10
	var msgs []kafka.Message
	for v := 1; v <= versions; v++ {
		for k := range keys {
			msgs = append(msgs, user(fmt.Sprintf("u%d", k), v))
		}
	}
	poison := kafka.Message{Key: []byte("poison"), Value: []byte(`{"id": "poison", "name": `), Headers: []kafka.Header{{Key: "trace", Value: []byte("t-1")}}}
	rejected := user("rejected", 1)
	msgs = append(msgs, poison, rejected)
	h.broker.Produce(t, h.users, msgs...)
	total := int64(len(msgs))

	// One window for everything: the window closes when all the events that
	// reach the batcher (all but the poison message) are pending.
	h.mutate = func(c *consumer.Config) { c.BatchMaxEvents = keys*versions + 1; c.BatchMaxWait = time.Hour }
	c, stop := h.start()
	eventually(t, "all events done and committed", func() bool { return h.committedTotal() == total })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	for k := range keys {
		id := fmt.Sprintf("u%d", k)
		u, ok := h.fake.User(id)
		if !ok || u.Attributes["name"] != fmt.Sprintf("name-%d", versions) {
			t.Errorf("user %s = %+v, %v; want the last version", id, u.Attributes, ok)
		}
	}
	st := c.Stats()
	// keys upserts, one rejected coalesced request and its one-by-one retry.
	if got, want := len(h.fake.Requests()), keys+2; got != want {
		t.Errorf("%d requests to Userflow, want %d (one per key)", got, want)
	}
	if st.EventsRead != total || st.Coalesced != keys*(versions-1) || st.DeadLettered != 2 {
		t.Errorf("stats %+v", st)
	}

	dead := h.broker.ReadAll(t, h.dlq, 1)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	byKey := map[string]kafka.Message{}
	for _, m := range dead {
		byKey[string(m.Key)] = m
	}
	p := byKey["poison"]
	if string(p.Value) != string(poison.Value) || header(p, "trace") != "t-1" ||
		header(p, consumer.HeaderErrorClass) != consumer.ClassDecode || header(p, consumer.HeaderSourceTopic) != h.users ||
		header(p, consumer.HeaderSourceOffset) == "" || header(p, consumer.HeaderError) == "" {
		t.Errorf("poison dead letter: value %q headers %v", p.Value, p.Headers)
	}
	r := byKey["rejected"]
	if header(r, consumer.HeaderErrorClass) != consumer.ClassUserflowRejected || header(r, consumer.HeaderHTTPStatus) != "400" ||
		header(r, consumer.HeaderUserflowCode) != "invalid_params" || header(r, consumer.HeaderAttempts) != "1" {
		t.Errorf("rejected dead letter headers %v", r.Headers)
	}
	for _, m := range dead {
		for _, hd := range m.Headers {
			if strings.Contains(string(hd.Value), apiKey) {
				t.Errorf("dead letter header %s holds the API key", hd.Key)
			}
		}
	}
}

// A clean stop commits everything done: a restarted consumer in the same
// group sends no duplicate request.
func TestConsumerCleanRestartHasNoDuplicates(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{})
	for i := range 30 {
		h.broker.Produce(t, h.users, user(fmt.Sprintf("u%d", i), 1))
	}
	_, stop := h.start()
	eventually(t, "first run applied", func() bool { return len(h.fake.State().Users) == 30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	before := len(h.fake.Requests())
	if got := h.committedTotal(); got != 30 {
		t.Fatalf("committed %d after a clean stop, want 30", got)
	}

	h.broker.Produce(t, h.users, user("late", 1))
	_, stop = h.start()
	eventually(t, "second run applied the new event", func() bool { _, ok := h.fake.User("late"); return ok })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.fake.Requests()) - before; got != 1 {
		t.Fatalf("second run sent %d requests, want 1 (no redelivery after a clean stop)", got)
	}
}

// Userflow answering 401 stops the consumer with ErrUnauthorized and
// commits nothing past the failure.
func TestConsumerStopsOnAuthFailure(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{Unauthorized: true})
	h.broker.Produce(t, h.users, user("a", 1), user("b", 1))
	err := h.runToError()
	if !errors.Is(err, consumer.ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
	if got := h.committedTotal(); got != 0 {
		t.Fatalf("committed %d offsets after a 401, want 0", got)
	}
}

// Without a dead-letter topic, policy stop ends Run at the first bad event
// and leaves it uncommitted.
func TestConsumerPolicyStopWithoutDeadLetterTopic(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{})
	h.mutate = func(c *consumer.Config) { c.DeadLetterTopic, c.NoDeadLetter = "", consumer.PolicyStop }
	h.broker.Produce(t, h.users, kafka.Message{Key: []byte("x"), Value: []byte("not json")})
	err := h.runToError()
	var bad *consumer.BadEventError
	if !errors.As(err, &bad) || bad.Class != consumer.ClassDecode {
		t.Fatalf("Run = %v, want a BadEventError for the decode error", err)
	}
	if got := h.committedTotal(); got != 0 {
		t.Fatalf("committed %d offsets past a bad event under policy stop", got)
	}
}

// runToError runs a consumer that must stop by itself with an error.
func (h *harness) runToError() error {
	h.t.Helper()
	c, err := consumer.New(h.config(), h.client, zaptest.NewLogger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = c.Run(ctx)
	if ctx.Err() != nil {
		h.t.Fatal("Run did not stop by itself")
	}
	return err
}

func header(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// A coalesced request that Userflow rejects for good is taken apart: the
// key's events are applied one at a time, each mapped again from its
// record, and only the one Userflow rejects alone is dead-lettered, with its
// own record and offset; the others apply.
func TestConsumerIsolatesTheRejectedEventOfACoalescedRequest(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{PermanentBadIDs: []string{"gbad"}})
	m, err := mapping.New(mapping.Config{
		Format: mapping.FormatJSON, Object: mapping.ObjectUser, IDColumn: "id",
		Attributes: map[string]mapping.AttributeSpec{"name": {Column: "name"}, "version": {Column: "version"}},
		Groups:     &mapping.GroupsConfig{GroupIDColumn: "team"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mapper = m
	inTeam := func(id string, v int, team string) kafka.Message {
		return kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"name":"name-%d","version":%d,"team":%q}`, id, v, v, team)}
	}
	msgs := []kafka.Message{
		inTeam("u1", 1, "g1"), inTeam("u1", 2, "gbad"), inTeam("u1", 3, "g2"),
		inTeam("u2", 1, "g1"), inTeam("u2", 2, "g1"),
	}
	h.broker.Produce(t, h.users, msgs...)
	h.mutate = func(c *consumer.Config) { c.BatchMaxEvents = len(msgs); c.BatchMaxWait = time.Hour }
	c, stop := h.start()
	eventually(t, "all events done and committed", func() bool { return h.committedTotal() == int64(len(msgs)) })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if u, ok := h.fake.User("u1"); !ok || u.Attributes["name"] != "name-3" {
		t.Errorf("u1 = %+v, %v; want version 3", u.Attributes, ok)
	}
	for _, mb := range []struct {
		user, group string
		want        bool
	}{{"u1", "g1", true}, {"u1", "g2", true}, {"u1", "gbad", false}, {"u2", "g1", true}} {
		if _, ok := h.fake.Membership(mb.user, mb.group); ok != mb.want {
			t.Errorf("membership of %s in %s: %v, want %v", mb.user, mb.group, ok, mb.want)
		}
	}
	// u1: the coalesced request (rejected), then its three events alone,
	// of which version 2 is rejected; u2: one request.
	reqs := h.fake.Requests()
	if got := postedVersions(t, reqs); fmt.Sprint(got["u1"]) != "[1 3]" || fmt.Sprint(got["u2"]) != "[2]" {
		t.Errorf("versions applied %v; want u1 [1 3], u2 [2]", got)
	}
	rejected := 0
	for _, r := range reqs {
		if r.Status == 400 {
			rejected++
		}
	}
	if len(reqs) != 5 || rejected != 2 {
		t.Errorf("%d requests, %d rejected; want 5 and 2", len(reqs), rejected)
	}
	st := c.Stats()
	if st.DeadLettered != 1 || st.Coalesced != 3 {
		t.Errorf("stats: %d dead-lettered, %d coalesced; want 1 and 3", st.DeadLettered, st.Coalesced)
	}
	dead := h.broker.ReadAll(t, h.dlq, 1)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	d := dead[0]
	if string(d.Key) != "u1" || string(d.Value) != string(msgs[1].Value) ||
		header(d, consumer.HeaderErrorClass) != consumer.ClassUserflowRejected || header(d, consumer.HeaderHTTPStatus) != "400" {
		t.Errorf("dead letter %s = %s, headers %v; want u1's version 2, rejected", d.Key, d.Value, d.Headers)
	}
}
