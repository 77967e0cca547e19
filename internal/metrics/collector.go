package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("userflow_sync_"+name, help, labels, nil)
}

// The metrics' names, help and labels: a stable interface, documented in
// docs/metrics.md.
var (
	eventsDesc = newDesc("events_total",
		"Events finished, by sync, op (upsert, delete, skip, invalid) and outcome (applied, skipped, dead_lettered, skipped_bad).",
		"sync", "op", "outcome")
	requestsDesc = newDesc("userflow_requests_total",
		`Userflow HTTP requests sent, by endpoint (like "POST /users") and status (HTTP status, or "error" when no answer came).`,
		"endpoint", "status")
	operationsDesc = newDesc("userflow_operations_total",
		"Userflow operations that succeeded, by result (applied, missing: update mode found no object, already_deleted: delete of an absent object).",
		"result")
	retriesDesc        = newDesc("retries_total", "Failed Userflow attempts that were retried.")
	deadLetteredDesc   = newDesc("dead_lettered_total", "Events written to the dead-letter topic.")
	skippedBadDesc     = newDesc("skipped_bad_total", "Bad events skipped by policy, without a dead-letter topic.")
	skippedDesc        = newDesc("skipped_total", "Events that needed no request, by mapping skip reason.", "reason")
	coalescedDesc      = newDesc("coalesced_total", "Events folded into another event's Userflow request.")
	eventsReadDesc     = newDesc("events_read_total", "Kafka messages fetched and handed to mapping.")
	belowCommittedDesc = newDesc("below_committed_total", "Fetched messages older than the group's committed offset, dropped.")
	commitsDesc        = newDesc("commits_total", "Successful offset commits.")
	commitFailuresDesc = newDesc("commit_failures_total", "Failed offset commits (rebalance, coordinator moved); the events are redelivered.")
	resumedDesc        = newDesc("partitions_resumed_total", "Partitions a generation took back from this process's own watermark, past a failed final commit: events not applied twice.")
	inFlightDesc       = newDesc("userflow_in_flight", "Userflow requests being sent now.")
	committedDesc      = newDesc("partition_committed_offset",
		"Offset this member last committed for an owned partition; absent before its first commit.", "topic", "partition")
	doneDesc = newDesc("partition_done_offset",
		"Commit watermark of an owned partition: every event below it is done; absent before the first fetch.", "topic", "partition")
	pendingDesc = newDesc("partition_pending_events",
		"Fetched events of an owned partition that are not done yet.", "topic", "partition")
	lagDesc = newDesc("partition_lag",
		"Messages between the last fetched one and the end of an owned partition; absent before the first fetch.", "topic", "partition")
	freshnessDesc = newDesc("freshness_seconds",
		"Seconds since the source time (database change) of the newest event applied for a sync; absent until one is applied.", "sync")
	coalescingDesc = newDesc("coalescing_ratio",
		"Events per successful Userflow operation since start: (operations + coalesced) / operations; absent before the first operation.")
	buildInfoDesc = newDesc("build_info", "Always 1; the version label is the build's version.", "version")

	allDescs = []*prometheus.Desc{
		eventsDesc, requestsDesc, operationsDesc, retriesDesc, deadLetteredDesc, skippedBadDesc,
		skippedDesc, coalescedDesc, eventsReadDesc, belowCommittedDesc, commitsDesc, commitFailuresDesc,
		resumedDesc, inFlightDesc, committedDesc, doneDesc, pendingDesc, lagDesc, freshnessDesc, coalescingDesc, buildInfoDesc,
	}
)

// Collector reports a consumer.Stats snapshot as Prometheus metrics.
type Collector struct {
	stats func() consumer.Stats
	now   func() time.Time
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector that calls stats once per scrape (usually
// (*consumer.Consumer).Stats) and measures freshness against now (usually
// time.Now). Both must be non-nil and safe to call from any goroutine.
func NewCollector(stats func() consumer.Stats, now func() time.Time) *Collector {
	return &Collector{stats: stats, now: now}
}

// Describe sends the descriptors of every metric Collect may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect takes one snapshot and sends it as constant metrics. Values that
// the snapshot marks unknown (-1 offsets and lag, no source time) are left
// out rather than reported as numbers.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, now := c.stats(), c.now()
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		send(d, prometheus.CounterValue, float64(v), labels...)
	}

	for k, v := range s.Events {
		counter(eventsDesc, v, k.Sync, k.Op, k.Outcome)
	}
	for k, v := range s.Requests {
		counter(requestsDesc, v, k.Endpoint, k.Status)
	}
	for reason, v := range s.Skipped {
		counter(skippedDesc, v, reason)
	}
	counter(operationsDesc, s.Applied, "applied")
	counter(operationsDesc, s.Missing, "missing")
	counter(operationsDesc, s.AlreadyDeleted, "already_deleted")
	counter(retriesDesc, s.Retries)
	counter(deadLetteredDesc, s.DeadLettered)
	counter(skippedBadDesc, s.SkippedBad)
	counter(coalescedDesc, s.Coalesced)
	counter(eventsReadDesc, s.EventsRead)
	counter(belowCommittedDesc, s.BelowCommitted)
	counter(commitsDesc, s.Commits)
	counter(commitFailuresDesc, s.CommitFailures)
	counter(resumedDesc, s.Resumed)
	send(inFlightDesc, prometheus.GaugeValue, float64(s.InFlight))

	known := func(d *prometheus.Desc, v int64, labels ...string) { // -1 means unknown
		if v >= 0 {
			send(d, prometheus.GaugeValue, float64(v), labels...)
		}
	}
	for _, p := range s.Partitions {
		part := strconv.Itoa(p.Partition)
		known(committedDesc, p.Committed, p.Topic, part)
		known(doneDesc, p.Done, p.Topic, part)
		known(pendingDesc, int64(p.Pending), p.Topic, part)
		known(lagDesc, p.Lag, p.Topic, part)
	}
	for sync, t := range s.LastSourceTime {
		if !t.IsZero() {
			send(freshnessDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), sync)
		}
	}
	if ops := s.Applied + s.Missing + s.AlreadyDeleted; ops > 0 {
		send(coalescingDesc, prometheus.GaugeValue, float64(ops+s.Coalesced)/float64(ops))
	}
	send(buildInfoDesc, prometheus.GaugeValue, 1, buildinfo.Version)
}
