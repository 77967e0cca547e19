package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testStats() consumer.Stats {
	return consumer.Stats{
		EventsRead: 12, BelowCommitted: 1, Skipped: map[string]int64{"unchanged": 2},
		Coalesced: 3, Applied: 4, Missing: 1, AlreadyDeleted: 1, Retries: 2, DeadLettered: 1,
		Commits: 7, CommitFailures: 1, Resumed: 2, InFlight: 2,
		Events: map[consumer.EventKey]int64{
			{Sync: "users", Op: "upsert", Outcome: "applied"}:        5,
			{Sync: "users", Op: "invalid", Outcome: "dead_lettered"}: 1,
			{Sync: "groups", Op: "skip", Outcome: "skipped"}:         2,
		},
		Requests: map[consumer.RequestKey]int64{
			{Endpoint: "POST /users", Status: "200"}:          4,
			{Endpoint: "POST /users", Status: "503"}:          2,
			{Endpoint: "DELETE /users/{id}", Status: "error"}: 1,
		},
		LastSourceTime: map[string]time.Time{"users": testNow.Add(-90 * time.Second), "groups": {}},
		Partitions: []consumer.PartitionStats{
			{Topic: "pg.users", Partition: 0, Committed: 120, Done: 125, Pending: 3, Lag: 10},
			{Topic: "pg.users", Partition: 1, Committed: -1, Done: -1, Lag: -1}, // assigned, nothing fetched
		},
	}
}

// testRegistry registers a collector of stats in a pedantic registry, which
// fails a scrape whose metrics do not match Describe.
func testRegistry(t *testing.T, stats consumer.Stats) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(func() consumer.Stats { return stats }, func() time.Time { return testNow }))
	return reg
}

func TestCollector(t *testing.T) {
	reg := testRegistry(t, testStats())
	want := `
# HELP userflow_sync_events_total Events finished, by sync, op (upsert, delete, skip, invalid) and outcome (applied, skipped, dead_lettered, skipped_bad).
# TYPE userflow_sync_events_total counter
userflow_sync_events_total{op="invalid",outcome="dead_lettered",sync="users"} 1
userflow_sync_events_total{op="skip",outcome="skipped",sync="groups"} 2
userflow_sync_events_total{op="upsert",outcome="applied",sync="users"} 5
# HELP userflow_sync_userflow_requests_total Userflow HTTP requests sent, by endpoint (like "POST /users") and status (HTTP status, or "error" when no answer came).
# TYPE userflow_sync_userflow_requests_total counter
userflow_sync_userflow_requests_total{endpoint="DELETE /users/{id}",status="error"} 1
userflow_sync_userflow_requests_total{endpoint="POST /users",status="200"} 4
userflow_sync_userflow_requests_total{endpoint="POST /users",status="503"} 2
# HELP userflow_sync_skipped_total Events that needed no request, by mapping skip reason.
# TYPE userflow_sync_skipped_total counter
userflow_sync_skipped_total{reason="unchanged"} 2
# HELP userflow_sync_retries_total Failed Userflow attempts that were retried.
# TYPE userflow_sync_retries_total counter
userflow_sync_retries_total 2
# HELP userflow_sync_partitions_resumed_total Partitions a generation took back from this process's own watermark, past a failed final commit: events not applied twice.
# TYPE userflow_sync_partitions_resumed_total counter
userflow_sync_partitions_resumed_total 2
# HELP userflow_sync_partition_committed_offset Offset this member last committed for an owned partition; absent before its first commit.
# TYPE userflow_sync_partition_committed_offset gauge
userflow_sync_partition_committed_offset{partition="0",topic="pg.users"} 120
# HELP userflow_sync_partition_pending_events Fetched events of an owned partition that are not done yet.
# TYPE userflow_sync_partition_pending_events gauge
userflow_sync_partition_pending_events{partition="0",topic="pg.users"} 3
userflow_sync_partition_pending_events{partition="1",topic="pg.users"} 0
# HELP userflow_sync_partition_lag Messages between the last fetched one and the end of an owned partition; absent before the first fetch.
# TYPE userflow_sync_partition_lag gauge
userflow_sync_partition_lag{partition="0",topic="pg.users"} 10
# HELP userflow_sync_freshness_seconds Seconds since the source time (database change) of the newest event applied for a sync; absent until one is applied.
# TYPE userflow_sync_freshness_seconds gauge
userflow_sync_freshness_seconds{sync="users"} 90
# HELP userflow_sync_coalescing_ratio Events per successful Userflow operation since start: (operations + coalesced) / operations; absent before the first operation.
# TYPE userflow_sync_coalescing_ratio gauge
userflow_sync_coalescing_ratio 1.5
# HELP userflow_sync_build_info Always 1; the version label is the build's version.
# TYPE userflow_sync_build_info gauge
` + fmt.Sprintf("userflow_sync_build_info{version=%q} 1\n", buildinfo.Version)
	names := []string{
		"userflow_sync_events_total", "userflow_sync_userflow_requests_total", "userflow_sync_skipped_total",
		"userflow_sync_retries_total", "userflow_sync_partitions_resumed_total", "userflow_sync_partition_committed_offset",
		"userflow_sync_partition_pending_events", "userflow_sync_partition_lag",
		"userflow_sync_freshness_seconds", "userflow_sync_coalescing_ratio", "userflow_sync_build_info",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// 3 events + 3 requests + 1 skipped + 3 operations + 9 plain counters +
	// in flight + 5 partition gauges + freshness + ratio + build info.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 28 {
		t.Errorf("GatherAndCount = %d, %v; want 28", n, err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("GatherAndLint: %v %+v", err, problems)
	}
}

// An empty snapshot reports the plain counters at zero and leaves the
// derived and per-label metrics out.
func TestCollectorEmpty(t *testing.T) {
	reg := testRegistry(t, consumer.Stats{})
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 14 {
		t.Errorf("GatherAndCount = %d, %v; want 14 (3 operations, 9 counters, in flight, build info)", n, err)
	}
	for _, name := range []string{"userflow_sync_coalescing_ratio", "userflow_sync_freshness_seconds", "userflow_sync_partition_lag"} {
		if n, _ := testutil.GatherAndCount(reg, name); n != 0 {
			t.Errorf("%s: %d series, want none", name, n)
		}
	}
}

// The collector reads the snapshot and the clock on every scrape.
func TestCollectorReadsEveryScrape(t *testing.T) {
	stats, now := testStats(), testNow
	c := NewCollector(func() consumer.Stats { return stats }, func() time.Time { return now })
	now = now.Add(time.Minute)
	stats.Retries = 5
	want := `
# HELP userflow_sync_freshness_seconds Seconds since the source time (database change) of the newest event applied for a sync; absent until one is applied.
# TYPE userflow_sync_freshness_seconds gauge
userflow_sync_freshness_seconds{sync="users"} 150
# HELP userflow_sync_retries_total Failed Userflow attempts that were retried.
# TYPE userflow_sync_retries_total counter
userflow_sync_retries_total 5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "userflow_sync_freshness_seconds", "userflow_sync_retries_total"); err != nil {
		t.Error(err)
	}
}
