package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// watchCommits polls the group's committed offsets until the test ends and
// fails it if any partition's committed offset ever moves backwards.
func (h *harness) watchCommits() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		last := map[int]int64{} // partitions without a commit yet answer -1
		for ctx.Err() == nil {
			for p, off := range h.broker.Committed(h.t, h.group, h.users, h.parts) {
				if prev, ok := last[p]; ok && off < prev {
					h.t.Errorf("partition %d: committed offset moved back from %d to %d", p, prev, off)
				}
				if prev, ok := last[p]; !ok || off > prev {
					last[p] = off
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// Three members on a three-partition topic; mid-stream one leaves and a
// fourth joins. Nothing is lost, no key goes back to an older version, and
// no committed offset ever moves backwards.
func TestConsumerThreeMembersOneLeavesOneJoins(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{Latency: time.Millisecond, LatencyJitter: 4 * time.Millisecond})
	h.watchCommits()
	const keys = 30
	produced, v := 0, 0
	produce := func() {
		v++
		h.broker.Produce(t, h.users, round("k", keys, v)...)
		produced += keys
	}
	applied := func(ver int) func() bool { return func() bool { return h.allAt("k", keys, ver) } }

	a, stopA := h.start()
	b, stopB := h.start()
	c, stopC := h.start()
	// Rounds go on until every member has read events of its own: the group
	// has settled on three members.
	for a.Stats().EventsRead == 0 || b.Stats().EventsRead == 0 || c.Stats().EventsRead == 0 {
		if v > 40 {
			t.Fatalf("not every member read events in %d rounds", v)
		}
		produce()
		eventually(t, fmt.Sprintf("round %d applied", v), applied(v))
	}
	produce()
	produce()
	if err := stopWithin(t, stopB, 20*time.Second); err != nil { // leaves with rounds in flight
		t.Fatalf("leaving member: %v", err)
	}
	d, stopD := h.start()
	// Rounds go on until the new member has read events of its own, which
	// proves the group was rebalanced to include it.
	for d.Stats().EventsRead == 0 {
		if v > 40 {
			t.Fatalf("the joining member read nothing in %d rounds", v)
		}
		produce()
		eventually(t, fmt.Sprintf("round %d applied", v), applied(v))
	}
	produce()
	eventually(t, "last round applied", applied(v))
	eventually(t, "offsets committed to the end", func() bool { return h.committedTotal() == int64(produced) })
	for i, stop := range []func() error{stopA, stopC, stopD} {
		if err := stopWithin(t, stop, 20*time.Second); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	duplicates := 0
	for id, versions := range postedVersions(t, h.fake.Requests()) {
		for i := 1; i < len(versions); i++ {
			if versions[i] < versions[i-1] {
				t.Errorf("user %s: version %d applied after %d", id, versions[i], versions[i-1])
			}
			if versions[i] == versions[i-1] {
				duplicates++
			}
		}
	}
	t.Logf("%d events in %d rounds; %d duplicate requests", produced, v, duplicates)
}

// A consumer stopped between Userflow's 2xx and the commit (every commit
// fails until it stops) leaves the events uncommitted; the next run gets
// them again, applies them again, and the final state is the same.
func TestConsumerRedeliversWhatWasAppliedButNotCommitted(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{})
	cluster := h.broker.Cluster
	if cluster == nil {
		t.Skip("needs the in-process kfake cluster to fail OffsetCommit")
	}
	var failing atomic.Bool
	failing.Store(true)
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if !failing.Load() {
			cluster.DropControl()
			return nil, nil, false
		}
		cluster.KeepControl()
		req := kreq.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.CoordinatorNotAvailable.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	const keys = 10
	h.broker.Produce(t, h.users, round("k", keys, 1)...)
	h.broker.Produce(t, h.users, round("k", keys, 2)...)
	_, stop := h.start()
	eventually(t, "applied", func() bool { return h.allAt("k", keys, 2) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := h.committedTotal(); got != 0 {
		t.Fatalf("committed %d although every commit failed", got)
	}
	first := len(h.fake.Requests())

	failing.Store(false)
	c, stop := h.start()
	eventually(t, "redelivered and committed", func() bool { return h.committedTotal() == 2*keys })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if c.Stats().EventsRead != 2*keys || len(h.fake.Requests()) == first {
		t.Fatalf("second run read %d events and sent %d requests; want the %d events redelivered", c.Stats().EventsRead, len(h.fake.Requests())-first, 2*keys)
	}
	if !h.allAt("k", keys, 2) {
		t.Fatal("final state changed by the redelivery")
	}
}

// Stats describe what happened, by sync, op and outcome, and by endpoint
// and status; partitions of the running generation are visible.
func TestConsumerStats(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{PermanentBadIDs: []string{"bad"}})
	h.broker.Produce(t, h.users, user("a", 1), user("b", 1), user("bad", 1))
	h.broker.Produce(t, h.users, round("x", 1, 1)[0])
	h.broker.Produce(t, h.users, kafka.Message{Key: []byte("junk"), Value: []byte("{not json")})
	c, stop := h.start()
	eventually(t, "done", func() bool { return h.committedTotal() == 5 })
	eventually(t, "partitions visible", func() bool {
		ps := c.Stats().Partitions
		if len(ps) != h.parts {
			return false
		}
		var done int64
		for _, p := range ps {
			done += max(p.Committed, 0)
			if p.Pending != 0 {
				return false
			}
		}
		return done == 5
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	want := map[consumer.EventKey]int64{
		{Sync: "users", Op: "upsert", Outcome: consumer.OutcomeLabelApplied}:       3,
		{Sync: "users", Op: "upsert", Outcome: consumer.OutcomeLabelDeadLettered}:  1,
		{Sync: "users", Op: "invalid", Outcome: consumer.OutcomeLabelDeadLettered}: 1,
	}
	if fmt.Sprint(st.Events) != fmt.Sprint(want) {
		t.Errorf("Events = %v, want %v", st.Events, want)
	}
	var posted, rejected int64
	for k, n := range st.Requests {
		if k.Endpoint == "POST /users" && (k.Status == "200" || k.Status == "201") {
			posted += n
		}
		if k.Endpoint == "POST /users" && k.Status == "400" {
			rejected += n
		}
	}
	if posted != 3 || rejected < 1 || st.InFlight != 0 || st.Partitions != nil {
		t.Errorf("requests %v in flight %d partitions %v", st.Requests, st.InFlight, st.Partitions)
	}
}

// A dry run reports the requests it would send, writes nothing to Userflow,
// commits nothing, and stops fetching at its limit.
func TestConsumerDryRun(t *testing.T) {
	h := newHarness(t, userflowtest.Faults{})
	h.broker.Produce(t, h.users, round("k", 5, 1)...)
	h.broker.Produce(t, h.users, kafka.Message{Key: []byte("k0")}) // tombstone: delete
	h.broker.Produce(t, h.users, round("late", 3, 1)...)
	var mu sync.Mutex
	var got []consumer.DryRunRequest
	c, err := consumer.New(h.config(), h.client, zaptest.NewLogger(t),
		consumer.WithDryRun(func(r consumer.DryRunRequest) { mu.Lock(); got = append(got, r); mu.Unlock() }),
		consumer.WithMaxEvents(6))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	finished := func(st consumer.Stats) (n int64) {
		for _, v := range st.Events {
			n += v
		}
		return n
	}
	eventually(t, "six events done", func() bool { return finished(c.Stats()) == 6 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("dry run sent %d requests to Userflow", n)
	}
	if total := h.committedTotal(); total != 0 {
		t.Errorf("dry run committed %d offsets", total)
	}
	st := c.Stats()
	if st.EventsRead != 6 {
		t.Errorf("read %d events past the limit of 6", st.EventsRead)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(got)) != 6-st.Coalesced || len(got) == 0 {
		t.Fatalf("recorded %d requests for 6 events of which %d coalesced: %+v", len(got), st.Coalesced, got)
	}
}
