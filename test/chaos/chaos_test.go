package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

var (
	soak   = flag.Bool("soak", false, "a longer run: 8× the keys, 3× the production time, more kills and restarts")
	report = flag.String("report", "", "append the results table, in markdown, to this file")
	logs   = flag.String("logs", "", "keep every process's output in this directory (default: a temporary one, removed)")
)

// scenario is one fault, bounded in time, injected while the workload is
// produced; afterwards the faults are lifted, the group must catch up, every
// process is stopped with SIGTERM, and the history is checked.
type scenario struct {
	name   string
	proves string
	// clean: every stop is clean, so no event may be applied twice.
	clean   bool
	brokers int  // kfake brokers; default 1
	broker  bool // needs broker fault injection (skipped on KAFKA_BROKERS)
	faults  func(r *run)
}

func scenarios() []scenario {
	restarts := 3
	if *soak {
		restarts = 10
	}
	return []scenario{
		{name: "baseline", proves: "no fault: the checker's zero", clean: true, faults: func(r *run) {}},
		{name: "sigterm-restart", proves: fmt.Sprintf("%d clean stops (SIGTERM) and restarts mid-stream: no duplicate", restarts), clean: true,
			faults: func(r *run) {
				for range restarts {
					r.awaitProgress()
					r.term(r.running()[0])
					r.awaitJoined(r.startInstance())
				}
			}},
		{name: "sigkill-restart", proves: fmt.Sprintf("%d SIGKILLs at random moments, each followed by a restart: nothing lost, duplicates counted", restarts),
			faults: func(r *run) {
				for range restarts {
					r.awaitProgress()
					r.kill(r.running()[0])
					// The next kill waits until this process has joined:
					// kfake does not expire a member killed between its
					// JoinGroup and SyncGroup (docs/chaos.md).
					r.awaitJoined(r.startInstance())
				}
			}},
		{name: "scale-1-3-1", proves: "two processes join, then leave with SIGTERM, while the stream runs: partitions move without a duplicate", clean: true,
			faults: func(r *run) {
				r.awaitProgress()
				a, b := r.startInstance(), r.startInstance()
				r.awaitJoined(a)
				r.awaitJoined(b)
				r.awaitProgress()
				r.term(a)
				r.term(b)
			}},
		{name: "userflow-429-retry-after", proves: "429 storm (40% of requests) announcing Retry-After: 1", clean: true,
			faults: bursts(1, userflowtest.Faults{RateLimitRate: 0.4, RetryAfter: time.Second})},
		{name: "userflow-429-no-retry-after", proves: "429 storm (40%) without Retry-After: the backoff alone", clean: true,
			faults: bursts(1, userflowtest.Faults{RateLimitRate: 0.4, RetryAfterFormat: userflowtest.RetryAfterNone})},
		{name: "userflow-5xx", proves: "two bursts of 500s (50% of requests)", clean: true,
			faults: bursts(2, userflowtest.Faults{ErrorRate: 0.5})},
		{name: "userflow-slow", proves: "Userflow answering in 30–90 ms", clean: true,
			faults: func(r *run) {
				r.userflowFaults(userflowtest.Faults{Latency: 30 * time.Millisecond, LatencyJitter: 60 * time.Millisecond})
				r.awaitProduced()
				r.userflowFaults(userflowtest.Faults{})
			}},
		{name: "userflow-resets", proves: "20% of Userflow connections cut before an answer", clean: true,
			faults: func(r *run) {
				r.awaitProgress()
				r.userflowFaults(userflowtest.Faults{ResetRate: 0.2})
				r.awaitProduced()
				r.userflowFaults(userflowtest.Faults{})
			}},
		{name: "userflow-401", proves: "Userflow answers 401 mid-run: the process stops with a clear error and commits nothing it did not apply; a restart with a good key finishes",
			faults: func(r *run) {
				r.awaitProgress()
				p := r.running()[0]
				r.userflowFaults(userflowtest.Faults{Unauthorized: true})
				select {
				case <-p.p.done:
				case <-time.After(30 * time.Second):
					r.t.Fatalf("still running 30s after Userflow answered 401:\n%s", p.p.log())
				}
				if p.p.err == nil || !strings.Contains(p.p.output(), "userflow rejected the API key") {
					r.t.Fatalf("after a 401: exit %v, want a failure naming the API key:\n%s", p.p.err, p.p.log())
				}
				r.note("exit: " + p.p.err.Error())
				r.userflowFaults(userflowtest.Faults{})
				r.startInstance()
			}},
		{name: "broker-commit-errors", proves: "12 offset commits refused (COORDINATOR_LOAD_IN_PROGRESS), then 12 answered REQUEST_TIMED_OUT (kfake stores those: an answer lost after the commit)", clean: true, broker: true,
			faults: func(r *run) {
				for _, e := range []string{"COORDINATOR_LOAD_IN_PROGRESS", "REQUEST_TIMED_OUT"} {
					r.awaitProgress()
					r.b.control(r.t, "POST", "/faults", map[string]any{"api": "OffsetCommit", "error": e, "count": 12})
				}
			}},
		{name: "broker-dropped-connections", proves: "the broker closing connections on fetches (6), commits (3) and heartbeats (3): generations end with their final commit lost, and the process resumes from its own watermark", clean: true, broker: true,
			faults: func(r *run) {
				for _, d := range []struct {
					api   string
					count int
				}{{"Fetch", 6}, {"OffsetCommit", 3}, {"Heartbeat", 3}} {
					r.awaitProgress()
					r.b.control(r.t, "POST", "/drop", map[string]any{"api": d.api, "count": d.count})
				}
			}},
		{name: "broker-leader-move", proves: "partition leaders shuffled 4 times across 3 brokers mid-stream", clean: true, broker: true, brokers: 3,
			faults: func(r *run) {
				for range 4 {
					r.awaitProgress()
					r.b.control(r.t, "POST", "/shuffle-leaders", nil)
				}
			}},
	}
}

// bursts sets Userflow faults f n times, each from one random point of
// progress to the next.
func bursts(n int, f userflowtest.Faults) func(*run) {
	return func(r *run) {
		for range n {
			r.awaitProgress()
			r.userflowFaults(f)
			r.awaitProgress()
			r.userflowFaults(userflowtest.Faults{})
		}
	}
}

func workloadConfig(seed uint64) WorkloadConfig {
	c := WorkloadConfig{Seed: seed, Users: 300, Companies: 100, MembershipUsers: 100, Rejected: 3,
		MaxVersions: 8, DeleteRate: 0.2, PoisonRate: 0.01}
	if *soak {
		c.Users, c.Companies, c.MembershipUsers = 2400, 800, 800
	}
	return c
}

// results collects every scenario's row for the report.
var results struct {
	sync.Mutex
	rows []string
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; not with -short")
	}
	binaries(t)
	results.Lock()
	results.rows = nil // -count runs the test again: one table per run
	results.Unlock()
	for i, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if sc.broker && externalBroker() {
				t.Skip("broker faults need cmd/kfake; an external broker is set")
			}
			runScenario(t, sc, uint64(i+1))
		})
	}
	if *report != "" {
		f, err := os.OpenFile(*report, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, tableHeader)
		for _, row := range results.rows {
			fmt.Fprintln(f, row)
		}
	}
}

const tableHeader = "| scenario | events | writes | lost | duplicates | replays | order violations | state wrong | commits back | dead letters | DLQ wrong | processes | time |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"

// run is one scenario's running system.
type run struct {
	t     *testing.T
	b     *broker
	f     *fake
	w     *Workload
	group string
	rng   *rand.Rand
	dir   string

	instances []*instance
	producing chan struct{} // closed when every event is produced
	notes     []string
}

type instance struct {
	id string
	p  *process
}

func (r *run) note(s string) { r.notes = append(r.notes, s) }

// startInstance starts one more userflow-sync process, behind its own proxy.
func (r *run) startInstance() *instance {
	r.t.Helper()
	id := fmt.Sprint(len(r.instances) + 1)
	path := filepath.Join(r.dir, "config-"+id+".yaml")
	var session time.Duration // the default, 3s, on kfake
	if externalBroker() {
		session = 6 * time.Second // Apache Kafka's default group.min.session.timeout.ms
	}
	cfg := Config(Settings{Brokers: r.b.addrs, GroupID: r.group, Topic: r.b.topic, Userflow: proxy(r.t, r.f.url, id), APIKey: apiKey, SessionTimeout: session})
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	p, _ := start(r.t, "userflow-sync-"+id, bins.sync, 0, "run", "--config", path)
	in := &instance{id: id, p: p}
	r.instances = append(r.instances, in)
	return in
}

// running returns the processes still running; there must be one.
func (r *run) running() []*instance {
	out := r.runningOrNone()
	if len(out) == 0 {
		r.t.Fatal("no userflow-sync process is running")
	}
	return out
}

// term stops a process cleanly; it must exit 0.
func (r *run) term(in *instance) {
	r.t.Helper()
	if err := in.p.stop(syscall.SIGTERM, 20*time.Second); err != nil {
		r.t.Fatalf("process %s after SIGTERM: %v\n%s", in.id, err, in.p.log())
	}
}

func (r *run) kill(in *instance) {
	_ = in.p.stop(syscall.SIGKILL, 10*time.Second)
}

// awaitProgress waits until Userflow has seen a random 5–25% more requests
// than now, or production is over: a fault lands at a random point of the
// work, never after a fixed time.
func (r *run) awaitProgress() {
	r.t.Helper()
	from := r.f.stats(r.t).Requests
	step := max(20, len(r.w.Events)*(5+r.rng.IntN(20))/100/3)
	if err := waitFor(60*time.Second, func() bool {
		select {
		case <-r.producing:
			return true
		default:
		}
		return r.f.stats(r.t).Requests >= from+step
	}); err != nil {
		r.t.Fatalf("no progress: %d requests seen, waiting for %d", r.f.stats(r.t).Requests, from+step)
	}
}

// awaitJoined waits until the process has started its first generation.
func (r *run) awaitJoined(in *instance) {
	r.t.Helper()
	if err := waitFor(30*time.Second, func() bool { return strings.Contains(in.p.output(), `"msg":"generation started"`) }); err != nil {
		r.t.Fatalf("process %s did not join the group:\n%s", in.id, in.p.log())
	}
}

func (r *run) awaitProduced() {
	select {
	case <-r.producing:
	case <-time.After(2 * time.Minute):
		r.t.Fatal("production did not finish")
	}
}

func (r *run) userflowFaults(f userflowtest.Faults) { r.f.setFaults(r.t, f) }

func runScenario(t *testing.T, sc scenario, seed uint64) {
	began := time.Now()
	if sc.brokers == 0 {
		sc.brokers = 1
	}
	r := &run{t: t, group: "chaos-" + sc.name, rng: rand.New(rand.NewPCG(seed, 99)), dir: t.TempDir(),
		producing: make(chan struct{})}
	r.w = Generate(workloadConfig(seed))
	r.b = startBroker(t, sc.brokers)
	r.f = startFake(t, r.w.RejectedIDs)
	sampler := sampleCommits(r.b, r.group, 50*time.Millisecond)
	r.startInstance()

	// Produce the workload at a steady rate over a few seconds, so the
	// faults land while the stream runs.
	produceFor := 3 * time.Second
	if *soak {
		produceFor = 10 * time.Second
	}
	prodErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(r.producing)
		prodErr <- produce(ctx, r, produceFor)
	}()
	sc.faults(r)
	r.awaitProduced()
	if err := <-prodErr; err != nil {
		t.Fatalf("produce: %v", err)
	}

	// Lift the faults and let the group catch up: done when every source
	// partition's committed offset is its end.
	r.userflowFaults(userflowtest.Faults{})
	if r.b.admin != "" {
		r.b.control(t, "DELETE", "/faults", nil)
		r.b.control(t, "DELETE", "/drop", nil)
	}
	if len(r.runningOrNone()) == 0 {
		r.startInstance()
	}
	end, err := endOffsets(ctx, r.b, sourceTopics...)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp := func() bool {
		got, err := committed(ctx, r.b, r.group)
		if err != nil {
			return false
		}
		n := 0
		for _, c := range got {
			if c.Offset == end[c.TopicPartition] {
				n++
			}
		}
		return n == len(end)
	}
	if err := waitFor(2*time.Minute, caughtUp); err != nil {
		for _, in := range r.instances {
			t.Logf("process %s:\n%s", in.id, in.p.log())
		}
		t.Fatalf("the group did not catch up: committed %v, end %v", must(committed(ctx, r.b, r.group)), end)
	}
	for _, in := range r.runningOrNone() {
		r.term(in)
	}

	h := History{End: end, TopicName: r.b.names, Records: map[string][]kafka.Message{}}
	h.Commits = sampler.finish()
	final, err := committed(ctx, r.b, r.group)
	if err != nil {
		t.Fatal(err)
	}
	h.Commits = append(h.Commits, final...)
	for _, name := range sourceTopics {
		if h.Records[name], err = readAll(ctx, r.b, name); err != nil {
			t.Fatal(err)
		}
	}
	if h.DeadLetters, err = readAll(ctx, r.b, TopicDLQ); err != nil {
		t.Fatal(err)
	}
	var logged []struct {
		userflowtest.Request
		Body string `json:"body"` // Request.Body is a string in JSON
	}
	call(t, "GET", r.f.url+"/_admin/requests", nil, &logged)
	for _, q := range logged {
		q.Request.Body = []byte(q.Body)
		h.Requests = append(h.Requests, q.Request)
	}
	call(t, "GET", r.f.url+"/_admin/state", nil, &h.State)

	h.Passes = map[string][]time.Time{}
	for _, in := range r.instances {
		passes, commitFailures := parseLog(t, in.p.output())
		h.Passes[in.id] = passes
		r.note(fmt.Sprintf("process %s: %d generations, %d failed commits", in.id, len(passes), commitFailures))
	}

	res := Check(r.w, h)
	row := fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1fs |", sc.name, res.Events, res.Writes,
		res.Lost, res.Duplicates, res.Replays, res.OrderViolated, res.StateWrong, res.CommitsBack+res.CommitsShort,
		res.DeadLetters, res.DLQWrong, len(r.instances), time.Since(began).Seconds())
	results.Lock()
	results.rows = append(results.rows, row)
	results.Unlock()
	t.Logf("%s\n%s\n%s", sc.proves, tableHeader, row)
	for _, n := range append(r.notes, res.Notes...) {
		t.Log(n)
	}
	for _, p := range res.Problems {
		t.Error(p)
	}
	if res.Failed() {
		t.Errorf("the history breaks an invariant")
	}
	if sc.clean && res.Duplicates+res.Replays > 0 {
		t.Errorf("%d duplicates and %d replays after clean stops only; want none", res.Duplicates, res.Replays)
	}
	// The API key never reaches a log.
	for _, in := range r.instances {
		if strings.Contains(in.p.output(), apiKey) {
			t.Errorf("process %s printed the API key", in.id)
		}
	}
	if t.Failed() {
		for _, in := range r.instances {
			t.Logf("process %s:\n%s", in.id, in.p.log())
		}
	}
}

func (r *run) runningOrNone() []*instance {
	var out []*instance
	for _, in := range r.instances {
		if in.p.running() {
			out = append(out, in)
		}
	}
	return out
}

// produce writes the workload in order at a steady rate, spread over d.
func produce(ctx context.Context, r *run, d time.Duration) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(r.b.addrs...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    500,
		MaxAttempts:  20,
		Transport:    &kafka.Transport{MetadataTTL: 200 * time.Millisecond},
	}
	defer w.Close()
	const chunk = 50
	n := len(r.w.Events)
	lim := rate.NewLimiter(rate.Limit(float64(n)/d.Seconds()), chunk)
	for i := 0; i < n; i += chunk {
		batch := r.w.Events[i:min(n, i+chunk)]
		if err := lim.WaitN(ctx, len(batch)); err != nil {
			return err
		}
		msgs := make([]kafka.Message, len(batch))
		for j, e := range batch {
			msgs[j] = kafka.Message{Topic: r.b.topic(e.Topic), Key: e.Key, Value: e.Value}
		}
		if err := writeAll(ctx, w, msgs); err != nil {
			return err
		}
	}
	return nil
}

// parseLog reads a userflow-sync JSON log: when each generation started, and
// how many commits failed.
func parseLog(t *testing.T, log string) (passes []time.Time, commitFailures int) {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Ts  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "generation started":
			ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.Ts)
			if err != nil {
				t.Fatalf("log time %q: %v", l.Ts, err)
			}
			passes = append(passes, ts)
		case strings.HasPrefix(l.Msg, "commit failed"):
			commitFailures++
		}
	}
	return passes, commitFailures
}

// writeAll writes msgs, retrying the ones that failed: after a leader move
// kafka-go's writer keeps sending to the old leader until its metadata is
// refreshed. Records of one key share a partition, hence a produce request,
// hence an outcome, so retrying the failed ones keeps each key's order.
func writeAll(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	for attempt := 0; ; attempt++ {
		err := w.WriteMessages(ctx, msgs...)
		var failed kafka.WriteErrors
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &failed) || attempt == 50:
			return err
		}
		var again []kafka.Message
		for i, e := range failed {
			if e != nil {
				again = append(again, msgs[i])
			}
		}
		msgs = again
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // the writer's metadata TTL is 200ms
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		return *new(T)
	}
	return v
}
