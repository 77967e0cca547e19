// Command bench measures userflow-sync end to end against an in-process kfake
// broker and the fake Userflow, next to a naive consumer and the ceiling
// (kafka-go bare consumption, decode+map alone), and prints a markdown table
// and the target checks. Run it from the repository root:
//
//	go run ./test/bench            # default scenarios and a 1M-event backlog (~5 min on 2 cores)
//	go run ./test/bench -quick     # smaller workloads, no backlog (under a minute)
//	go run ./test/bench -scenarios lat0,lat2 -backlog 0
//	go run ./test/bench -inprocess -cpuprofile cpu.prof -scenarios lat0-p1 -backlog 0
//
// userflow-sync runs as a child process, built once from ./cmd/userflow-sync,
// so its peak RSS (VmHWM from /proc) is its own; with -inprocess its consumer
// runs in the bench process instead, for profiles (docs/benchmarks.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

type scenario struct {
	name    string
	w       workload
	latency time.Duration
	// stream: produce at this rate (events/s) with the consumer already
	// running, and measure produce→applied latency. 0: the workload waits
	// in the topic before the consumer starts.
	stream      int
	naiveBudget time.Duration // > 0: also run the naive consumer
	ceiling     bool          // also run kafka-go bare consumption and decode+map
	note        string        // shown after the name in the table
	backlog     bool
}

func scenarios(quick bool, backlog int) []scenario {
	s := func(n int) int { // scale event counts in quick mode
		if quick {
			return n / 5
		}
		return n
	}
	nb := func(d time.Duration) time.Duration {
		if quick {
			return d / 4
		}
		return d
	}
	list := []scenario{
		{name: "lat0", w: workload{s(100000), s(10000), 6}, ceiling: true, naiveBudget: nb(10 * time.Second)},
		{name: "lat0-p1", w: workload{s(100000), s(10000), 1}, ceiling: true},
		// Not the lat0: 50 events per key instead of 10, to show the
		// rate when most events coalesce.
		{name: "lat0-50perkey", w: workload{s(100000), s(2000), 6}, ceiling: true, note: "not the issue's lat0: 50 events/key"},
		{name: "lat2", w: workload{s(50000), s(5000), 6}, latency: 2 * time.Millisecond, naiveBudget: nb(20 * time.Second)},
		{name: "lat20", w: workload{s(20000), s(2000), 6}, latency: 20 * time.Millisecond},
		{name: "lat100", w: workload{s(10000), s(1000), 6}, latency: 100 * time.Millisecond},
		{name: "keys1", w: workload{s(30000), s(30000), 6}, latency: 2 * time.Millisecond},
		{name: "keys50", w: workload{s(50000), s(1000), 6}, latency: 2 * time.Millisecond},
		{name: "stream", w: workload{s(10000), s(1000), 6}, latency: 2 * time.Millisecond, stream: 2000},
	}
	if backlog > 0 {
		list = append(list, scenario{name: "backlog", w: workload{backlog, max(1, backlog/10), 6}, backlog: true})
	}
	return list
}

type result struct {
	sc          scenario
	rate        float64 // events/s, first request → final version of every key
	startup     time.Duration
	requests    int64
	bound       float64
	p50, p99    time.Duration
	rss         int64
	produceTime time.Duration
	naiveRate   float64
	naiveEvents int
	bareRate    float64
	mapRate     float64
	// minRequests: the time to send the fewest requests the workload needs
	// (one upsert per key, its last version) with max_in_flight at once;
	// ceilingRate: events ÷ (bare consumption time + minRequests).
	minRequests time.Duration
	ceilingRate float64
	err         error
}

func main() {
	quick := flag.Bool("quick", false, "smaller workloads (1/5), shorter naive budgets, no backlog unless -backlog is given")
	only := flag.String("scenarios", "", "comma-separated scenario names to run (default: all): lat0,lat0-p1,lat0-50perkey,lat2,lat20,lat100,keys1,keys50,stream,backlog")
	backlog := flag.Int("backlog", 1000000, "events in the backlog scenario (10 per key); 0 skips it")
	maxInFlight := flag.Int("max-in-flight", 16, "userflow.max_in_flight of userflow-sync")
	bin := flag.String("bin", "", "a prebuilt userflow-sync binary (default: go build ./cmd/userflow-sync)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench process (kfake, the fake Userflow, naive, bare) to this file")
	flag.DurationVar(&bareMaxWait, "bare-max-wait", 50*time.Millisecond, "MaxWait of the bare readers (with 1s, kfake fetches stall for up to MaxWait: the ceiling is taken with 50ms)")
	flag.StringVar(&fetchMaxWait, "fetch-max-wait", "0s", "kafka.fetch_max_wait of userflow-sync (0s: its default, 1s)")
	flag.IntVar(&maxBuffered, "max-buffered", 0, "batch.max_buffered of userflow-sync (0: its default, 100 × max_events)")
	flag.IntVar(&maxBufferedBytes, "max-buffered-bytes", 0, "batch.max_buffered_bytes of userflow-sync (0: its default, 32 MiB)")
	flag.StringVar(&memProfile, "memprofile", "", "with -inprocess: write a heap profile of the bench process this long (-memprofile-after) after userflow-sync starts, in the first scenario")
	flag.DurationVar(&memProfileAfter, "memprofile-after", time.Second, "see -memprofile")
	flag.BoolVar(&inProcess, "inprocess", false, "run userflow-sync's consumer in the bench process instead of the binary (for -cpuprofile: its goroutines carry the label side=userflow-sync; no RSS)")
	flag.BoolVar(&loopback, "loopback", false, "implies -inprocess: userflow-sync's requests go to the fake in memory, without sockets (what it reaches when Userflow costs nothing)")
	flag.Parse()
	inProcess = inProcess || loopback
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	backlogSet := false
	flag.Visit(func(f *flag.Flag) { backlogSet = backlogSet || f.Name == "backlog" })
	if *quick && !backlogSet {
		*backlog = 0
	}

	dir, err := os.MkdirTemp("", "userflow-sync-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "userflow-sync")
		fmt.Fprintln(os.Stderr, "building ./cmd/userflow-sync ...")
		build := exec.Command("go", "build", "-o", *bin, "./cmd/userflow-sync")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fatal(fmt.Errorf("go build ./cmd/userflow-sync (run from the repository root): %w", err))
		}
	}

	var results []result
	for _, sc := range scenarios(*quick, *backlog) {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), sc.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "scenario %s: %d events, %d keys, %d partitions, latency %v ...\n",
			sc.name, sc.w.events, sc.w.keys, sc.w.partitions, sc.latency)
		r := run(sc, *bin, dir, *maxInFlight)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "scenario %s: %v\n", sc.name, r.err)
		} else {
			fmt.Fprintf(os.Stderr, "  %.0f events/s, %.3f requests/event, peak RSS %s\n", r.rate, float64(r.requests)/float64(sc.w.events), mb(r.rss))
		}
		results = append(results, r)
	}
	printTable(os.Stdout, results, *maxInFlight)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func run(sc scenario, bin, dir string, maxInFlight int) (r result) {
	r.sc = sc
	if sc.stream > 0 {
		// Windows are max_wait (100ms) long: rate/10 events of the stream.
		r.bound = sc.w.windowBound(max(1, sc.stream/10), false)
	} else {
		r.bound = sc.w.windowBound(1000, true)
	}
	c, err := newCluster(sc.w.partitions)
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	ctx := context.Background()

	tr := newTracker(sc.w, sc.latency, sc.stream > 0)
	defer tr.Close()
	var ch *child
	if sc.stream == 0 {
		start := time.Now()
		if err := c.produceAll(ctx, sc.w); err != nil {
			r.err = err
			return r
		}
		r.produceTime = time.Since(start)
		if ch, err = startChild(bin, dir, c, tr, maxInFlight); err != nil {
			r.err = err
			return r
		}
	} else {
		if ch, err = startChild(bin, dir, c, tr, maxInFlight); err != nil {
			r.err = err
			return r
		}
		ids, err := c.warmup(ctx, sc.w)
		if err != nil {
			r.err = err
			_, _ = ch.stop()
			return r
		}
		tr.mu.Lock()
		tr.expectWarm(ids)
		tr.mu.Unlock()
		if err := ch.await(tr.warmDone, 2*time.Minute); err != nil {
			r.err = fmt.Errorf("warmup: %w", err)
			_, _ = ch.stop()
			return r
		}
		tr.posts.Store(0)
		tr.firstPost.Store(0)
		go func() {
			if err := c.produceSteady(ctx, sc.w, sc.stream, tr); err != nil {
				fmt.Fprintln(os.Stderr, "stream:", err)
			}
		}()
	}
	timeout := 5*time.Minute + time.Duration(sc.w.events)*time.Millisecond/2
	waitErr := ch.await(tr.done, timeout)
	rss, stopErr := ch.stop()
	if waitErr != nil {
		r.err = waitErr
		return r
	}
	if stopErr != nil {
		fmt.Fprintln(os.Stderr, "  warning:", stopErr)
	}
	r.rss = rss
	first := time.Unix(0, tr.firstPost.Load())
	from := ch.started // process start: startup, group join and the first window are included
	if sc.stream > 0 {
		from = first // bounded by the production rate
	} else {
		r.startup = first.Sub(ch.started)
	}
	r.rate = float64(sc.w.events) / tr.doneAt.Sub(from).Seconds()
	r.requests = tr.posts.Load()
	if sc.stream > 0 {
		r.p50, r.p99 = tr.percentile(0.50), tr.percentile(0.99)
	}

	if sc.ceiling {
		runtime.GC()
		d, err := bare(c, sc.w.ends())
		if err != nil {
			r.err = fmt.Errorf("bare consumption: %w", err)
			return r
		}
		r.bareRate = float64(sc.w.events) / d.Seconds()
		if r.mapRate, err = decodeMap(sc.w); err != nil {
			r.err = fmt.Errorf("decode+map: %w", err)
			return r
		}
		runtime.GC()
		mtr := newTracker(sc.w, sc.latency, false)
		r.minRequests, err = minRequests(mtr.srv.URL, sc.w, maxInFlight)
		mtr.Close()
		if err != nil {
			r.err = fmt.Errorf("minimum requests: %w", err)
			return r
		}
		r.ceilingRate = float64(sc.w.events) / (d + r.minRequests).Seconds()
	}
	if sc.naiveBudget > 0 {
		runtime.GC()
		ntr := newTracker(sc.w, sc.latency, false)
		n, d, err := naive(c, ntr.srv.URL, sc.naiveBudget, sc.w.events)
		ntr.Close()
		if err != nil {
			r.err = fmt.Errorf("naive: %w", err)
			return r
		}
		r.naiveEvents = n
		r.naiveRate = float64(n) / d.Seconds()
	}
	return r
}

func mb(b int64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func num(f float64) string {
	if f == 0 {
		return "—"
	}
	s := fmt.Sprintf("%.0f", f)
	// thousands separators
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func lat(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

func printTable(f *os.File, results []result, maxInFlight int) {
	p := func(format string, a ...any) { fmt.Fprintf(f, format, a...) }
	byName := map[string]result{}
	for _, r := range results {
		byName[r.sc.name] = r
	}
	p("| scenario | events | keys | partitions | latency | events/s | requests/event | bound | p50 | p99 | peak RSS | startup | vs naive | vs bare |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		w := r.sc.w
		if r.err != nil {
			p("| %s | %d | %d | %d | %s | FAILED: %s |||||||||\n", r.sc.name, w.events, w.keys, w.partitions, lat(r.sc.latency),
				strings.ReplaceAll(strings.SplitN(r.err.Error(), "\n", 2)[0], "|", "/"))
			continue
		}
		vsNaive, vsBare := "—", "—"
		if r.naiveRate > 0 {
			vsNaive = fmt.Sprintf("%.1f×", r.rate/r.naiveRate)
		}
		if r.bareRate > 0 {
			vsBare = fmt.Sprintf("%.2f", r.rate/r.bareRate)
		}
		name := r.sc.name
		if r.sc.stream > 0 {
			name += fmt.Sprintf(" (%d ev/s produced)", r.sc.stream)
		}
		if r.sc.note != "" {
			name += " (" + r.sc.note + ")"
		}
		p("| %s | %s | %s | %d | %s | %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s |\n", name, num(float64(w.events)), num(float64(w.keys)),
			w.partitions, lat(r.sc.latency), num(r.rate), float64(r.requests)/float64(w.events), r.bound,
			ms(r.p50), ms(r.p99), mb(r.rss), ms(r.startup), vsNaive, vsBare)
	}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		w := r.sc.w
		if r.naiveRate > 0 {
			p("| naive (%s: %s events in %v budget) | %s | %s | %d | %s | %s | 1.000 | | | | | | | |\n", r.sc.name, num(float64(r.naiveEvents)), r.sc.naiveBudget,
				num(float64(w.events)), num(float64(w.keys)), w.partitions, lat(r.sc.latency), num(r.naiveRate))
		}
		if r.bareRate > 0 {
			p("| kafka-go bare (%s) | %s | %s | %d | | %s | | | | | | | | |\n", r.sc.name, num(float64(w.events)), num(float64(w.keys)), w.partitions, num(r.bareRate))
			p("| decode+map, 1 goroutine (%s) | %s | %s | | | %s | | | | | | | | |\n", r.sc.name, num(float64(w.events)), num(float64(w.keys)), num(r.mapRate))
			p("| minimum requests (%s: %s upserts, %d in flight, in %s) | %s | %s | | %s | | %.3f | | | | | | | |\n", r.sc.name, num(float64(w.keys)), maxInFlight, ms(r.minRequests),
				num(float64(w.events)), num(float64(w.keys)), lat(r.sc.latency), float64(w.keys)/float64(w.events))
			p("| ceiling: bare + minimum requests (%s) | %s | %s | %d | %s | %s | | | | | | | | |\n", r.sc.name, num(float64(w.events)), num(float64(w.keys)), w.partitions, lat(r.sc.latency), num(r.ceilingRate))
		}
	}
	buffered, bufferedBytes := "default (100,000)", "default (32 MiB)"
	if maxBuffered > 0 {
		buffered = num(float64(maxBuffered))
	}
	if maxBufferedBytes > 0 {
		bufferedBytes = mb(int64(maxBufferedBytes))
	}
	p("\nuserflow-sync: max_in_flight %d, batch max_events 1000, max_wait 100ms, max_buffered %s, max_buffered_bytes %s, other settings default.\n",
		maxInFlight, buffered, bufferedBytes)
	p("- events/s: from the start of its process (startup, group join and the first 100ms window included) to the final\n")
	p("  version of every key applied at the fake Userflow; stream: from the first request. startup: process start → first request.\n")
	p("- requests/event: POST /users received ÷ events. bound: Σ distinct keys per batch window ÷ events, a window being 1000\n")
	p("  consecutive events of a partition (topic filled before the start) or 100ms of the stream.\n")
	p("- p50/p99 (stream only): produce → applied, for every event, coalesced ones included.\n")
	p("- kafka-go bare: one partition Reader per partition (MinBytes 1, MaxBytes 10 MB, MaxWait %v), FetchMessage only, reader creation\n", bareMaxWait)
	p("  to last message. decode+map: mapping.Map of the same messages on one goroutine. naive: group Reader, ReadMessage\n")
	p("  (commit per message), json.Unmarshal, one Users.Upsert per message, sequential, for at most its budget.\n")
	p("- minimum requests: the fewest requests the workload needs (one upsert per key, its last version), sent by the\n")
	p("  userflow client with max_in_flight at once to a fresh fake. ceiling: events ÷ (bare time + minimum-requests time),\n")
	p("  what a consumer that reads as fast as kafka-go and sends only those requests would reach.\n")
	p("- peak RSS: VmHWM of the userflow-sync process just before SIGTERM.\n")

	check := func(ok bool, format string, a ...any) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		p("- %s: %s\n", verdict, fmt.Sprintf(format, a...))
	}
	p("\nTargets:\n")
	if r, ok := byName["lat2"]; ok && r.err == nil && r.naiveRate > 0 {
		check(r.rate >= 30*r.naiveRate, "2 ms latency, 10 events/key: %.1f× the naive consumer (target ≥ 30×)", r.rate/r.naiveRate)
	}
	for _, n := range []string{"lat0", "lat0-p1"} {
		if r, ok := byName[n]; ok && r.err == nil && r.bareRate > 0 {
			check(r.rate >= 0.5*r.bareRate, "%s, zero latency, %d partition(s): %.2f of kafka-go bare consumption (target ≥ 0.5)", n, r.sc.w.partitions, r.rate/r.bareRate)
			if r.ceilingRate > 0 {
				p("- info: %s: %.2f of the ceiling with the minimum Userflow requests (bare + minimum requests)\n", n, r.rate/r.ceilingRate)
			}
		}
	}
	for _, r := range results {
		if r.err == nil {
			check(float64(r.requests)/float64(r.sc.w.events) <= r.bound+1e-9, "%s: %.3f requests/event ≤ bound %.3f", r.sc.name, float64(r.requests)/float64(r.sc.w.events), r.bound)
		}
	}
	if r, ok := byName["backlog"]; ok {
		if r.err != nil {
			check(false, "backlog: %v", strings.SplitN(r.err.Error(), "\n", 2)[0])
		} else {
			check(r.rss < 150<<20, "backlog of %s events: peak RSS %s (target < 150 MB), drained at %s events/s (produced in %v)",
				num(float64(r.sc.w.events)), mb(r.rss), num(r.rate), r.produceTime.Round(time.Second))
		}
	}
}
