package consumer

import (
	"sync"
	"sync/atomic"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// Stats is a snapshot of a Consumer's counters since it was built. The
// consumer keeps no metrics library: the command reports these.
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
}

type counters struct {
	eventsRead, belowCommitted, coalesced             atomic.Int64
	applied, missing, alreadyDeleted, retries         atomic.Int64
	deadLettered, skippedBad, commits, commitFailures atomic.Int64

	mu      sync.Mutex
	skipped map[string]int64
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

// Stats returns a snapshot of the counters. Safe to call at any time.
func (c *Consumer) Stats() Stats {
	s := &c.stats
	s.mu.Lock()
	skipped := make(map[string]int64, len(s.skipped))
	for k, v := range s.skipped {
		skipped[k] = v
	}
	s.mu.Unlock()
	return Stats{
		EventsRead: s.eventsRead.Load(), BelowCommitted: s.belowCommitted.Load(), Skipped: skipped,
		Coalesced: s.coalesced.Load(), Applied: s.applied.Load(), Missing: s.missing.Load(),
		AlreadyDeleted: s.alreadyDeleted.Load(), Retries: s.retries.Load(),
		DeadLettered: s.deadLettered.Load(), SkippedBad: s.skippedBad.Load(),
		Commits: s.commits.Load(), CommitFailures: s.commitFailures.Load(),
	}
}
