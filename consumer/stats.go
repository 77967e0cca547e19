package consumer

import (
	"maps"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// Stats is a snapshot of a Consumer's counters since it was built, and of
// the partitions it owns now. The consumer imports no metrics library: the
// command turns these into metrics.
type Stats struct {
	EventsRead     int64            // messages fetched and handed to mapping
	BelowCommitted int64            // fetched messages older than the group's committed offset, dropped
	Skipped        map[string]int64 // events that needed no request, by mapping.SkipReason
	Coalesced      int64            // events folded into another event's request
	Applied        int64            // Userflow operations that succeeded
	Missing        int64            // update mode: object absent, nothing written
	AlreadyDeleted int64            // deletes of objects that were not there
	Retries        int64            // failed Userflow attempts that were retried
	DeadLettered   int64            // events written to the dead-letter topic
	SkippedBad     int64            // bad events skipped without a dead-letter topic (policy skip)
	Commits        int64            // successful offset commits
	CommitFailures int64            // failed offset commits (rebalance, coordinator moved)
	Resumed        int64            // partitions resumed from this process's own watermark, past a failed final commit

	// Events counts finished events by sync, op and outcome.
	Events map[EventKey]int64
	// Requests counts Userflow requests by endpoint and status.
	Requests map[RequestKey]int64
	// InFlight is the number of Userflow requests being sent now.
	InFlight int64
	// LastSourceTime is, per sync, the source time (when the change happened
	// in the database) of the newest event applied: freshness is now minus it.
	LastSourceTime map[string]time.Time
	// Generation is the consumer group generation this member is in, 0
	// when it is in none (starting, rebalancing, stopped).
	Generation int32
	// Partitions are the partitions of the current generation, sorted.
	Partitions []PartitionStats
}

// EventKey labels finished events. Op is upsert, delete, skip or invalid (a
// decode or mapping error); Outcome is applied, skipped, dead_lettered or
// skipped_bad.
type EventKey struct{ Sync, Op, Outcome string }

// RequestKey labels Userflow requests. Endpoint is like "POST /users" or
// "GET /groups/{id}"; Status is the HTTP status, or "error" when no answer
// came (network error, timeout, cancellation).
type RequestKey struct{ Endpoint, Status string }

// PartitionStats describes one owned partition.
type PartitionStats struct {
	Topic     string
	Partition int
	// Committed is the offset this member last committed (-1: none yet).
	Committed int64
	// Done is the commit watermark: every event below it is done.
	Done int64
	// Pending is the number of fetched events not done yet.
	Pending int
	// Lag is how far the last fetched message is behind the partition's end
	// (kafka-go's Reader.Lag), -1 before the first fetch.
	Lag int64
}

// Event outcomes.
const (
	OutcomeLabelApplied      = "applied"
	OutcomeLabelSkipped      = "skipped"
	OutcomeLabelDeadLettered = "dead_lettered"
	OutcomeLabelSkippedBad   = "skipped_bad"
)

type counters struct {
	eventsRead, belowCommitted, coalesced             atomic.Int64
	applied, missing, alreadyDeleted, retries         atomic.Int64
	deadLettered, skippedBad, commits, commitFailures atomic.Int64
	inFlight, resumed                                 atomic.Int64

	mu         sync.Mutex
	skipped    map[string]int64
	events     map[EventKey]int64
	requests   map[RequestKey]int64
	lastSource map[string]time.Time
}

func (c *counters) skip(r mapping.SkipReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.skipped == nil {
		c.skipped = map[string]int64{}
	}
	c.skipped[string(r)]++
}

func (c *counters) outcome(o Outcome) {
	switch o {
	case OutcomeApplied:
		c.applied.Add(1)
	case OutcomeMissing:
		c.missing.Add(1)
	case OutcomeAlreadyDeleted:
		c.alreadyDeleted.Add(1)
	}
}

// event counts a finished event; an applied one also moves its sync's
// freshness forward.
func (c *counters) event(ev *event, op, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events == nil {
		c.events, c.lastSource = map[EventKey]int64{}, map[string]time.Time{}
	}
	c.events[EventKey{Sync: ev.sync.Name, Op: op, Outcome: outcome}]++
	if outcome == OutcomeLabelApplied && ev.sourceTime.After(c.lastSource[ev.sync.Name]) {
		c.lastSource[ev.sync.Name] = ev.sourceTime
	}
}

// request counts one Userflow request.
func (c *counters) request(endpoint string, resp *userflow.Response, err error) {
	status := "error"
	if resp != nil && resp.Response != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests == nil {
		c.requests = map[RequestKey]int64{}
	}
	c.requests[RequestKey{Endpoint: endpoint, Status: status}]++
}

// Stats returns a snapshot. Safe to call at any time, from any goroutine.
func (c *Consumer) Stats() Stats {
	s := &c.stats
	st := Stats{
		EventsRead: s.eventsRead.Load(), BelowCommitted: s.belowCommitted.Load(),
		Coalesced: s.coalesced.Load(), Applied: s.applied.Load(), Missing: s.missing.Load(),
		AlreadyDeleted: s.alreadyDeleted.Load(), Retries: s.retries.Load(),
		DeadLettered: s.deadLettered.Load(), SkippedBad: s.skippedBad.Load(),
		Commits: s.commits.Load(), CommitFailures: s.commitFailures.Load(),
		InFlight: s.inFlight.Load(), Resumed: s.resumed.Load(),
	}
	s.mu.Lock()
	st.Skipped = maps.Clone(s.skipped)
	st.Events = maps.Clone(s.events)
	st.Requests = maps.Clone(s.requests)
	st.LastSourceTime = maps.Clone(s.lastSource)
	s.mu.Unlock()
	if g := c.current.Load(); g != nil {
		st.Generation = g.gen.ID
		st.Partitions = g.partitionStats()
	}
	return st
}

func (g *generation) partitionStats() []PartitionStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]PartitionStats, 0, len(g.readers))
	for tp, r := range g.readers {
		ps := PartitionStats{Topic: tp.topic, Partition: tp.partition, Committed: -1, Done: -1, Lag: r.Lag()}
		if off, ok := g.committed[tp]; ok {
			ps.Committed = off
		}
		if tr := g.trackers[tp]; tr != nil {
			ps.Done, ps.Pending = tr.watermark()
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}
