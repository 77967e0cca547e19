package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/config"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// child is a running userflow-sync: a process, or (for profiling) the same
// pipeline in the bench process, its goroutines labelled side=userflow-sync.
type child struct {
	cmd     *exec.Cmd
	out     *bytes.Buffer
	started time.Time
	exited  chan struct{}

	cancel context.CancelFunc // in-process only
	runErr error
}

// fetchMaxWait is kafka.fetch_max_wait of the generated config; "0s": the default.
var fetchMaxWait = "0s"

// maxBuffered and maxBufferedBytes are batch.max_buffered and
// batch.max_buffered_bytes of the generated config; 0: the default.
var maxBuffered, maxBufferedBytes int

// memProfile, with inProcess: a heap profile is written there
// memProfileAfter after the first start.
var (
	memProfile      string
	memProfileAfter time.Duration
)

// inProcess makes startChild run the consumer in the bench process.
var inProcess bool

// loopback (with inProcess) hands userflow-sync's requests to the fake
// Userflow in memory, without sockets or HTTP parsing: what userflow-sync
// reaches when Userflow costs nothing, to compare with the ceiling.
var loopback bool

// loopbackTransport answers a request by calling h in memory.
type loopbackTransport struct{ h http.Handler }

func (l loopbackTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

const configTemplate = `kafka:
  brokers: [%q]
  group_id: %q
  fetch_max_wait: %s
userflow:
  base_url: %q
  max_in_flight: %d
batch: {max_events: 1000, max_wait: 100ms, max_buffered: %d, max_buffered_bytes: %d}
dead_letter: {policy: skip}
metrics: {listen: ""}
log: {level: warn}
syncs:
  - name: users
    topic: %q
    format: json
    object: user
    id_column: id
    attributes:
      name: name
      version: {column: version, type: number}
`

// startChild runs the userflow-sync binary against the cluster and the fake.
func startChild(bin, dir string, c *cluster, tr *tracker, maxInFlight int) (*child, error) {
	cfg := filepath.Join(dir, fmt.Sprintf("config-%s.yaml", c.topic))
	text := fmt.Sprintf(configTemplate, c.addrs[0], "userflow-sync-"+c.topic, fetchMaxWait, tr.srv.URL, maxInFlight, maxBuffered, maxBufferedBytes, c.topic)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return nil, err
	}
	if inProcess {
		var hc *http.Client
		if loopback {
			hc = &http.Client{Transport: loopbackTransport{http.HandlerFunc(tr.serve)}}
		}
		return startInProcess([]byte(text), hc)
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "USERFLOW_API_KEY="+apiKey)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, out: out, started: time.Now(), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(ch.exited) }()
	return ch, nil
}

// stop sends SIGTERM, waits for the exit and returns the peak RSS in bytes:
// VmHWM of /proc/PID/status just before the signal. (The rusage of the
// exited child is no good: Linux carries the RSS high-water mark of the
// parent's address space over the vfork+exec that starts the child, so
// ru_maxrss is at least the bench's own RSS, which holds kfake's data.)
func (ch *child) stop() (int64, error) {
	if ch.cancel != nil {
		ch.cancel()
		<-ch.exited
		return 0, ch.runErr
	}
	hwm, hwmErr := vmHWM(ch.cmd.Process.Pid)
	_ = ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch.exited:
	case <-time.After(30 * time.Second):
		_ = ch.cmd.Process.Kill()
		<-ch.exited
		return 0, errors.New("userflow-sync did not stop within 30s of SIGTERM")
	}
	return hwm, hwmErr
}

// vmHWM is the peak RSS of a process, in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// await waits for the tracker's channel, the child's exit or the timeout.
func (ch *child) await(done <-chan struct{}, timeout time.Duration) error {
	select {
	case <-done:
		return nil
	case <-ch.exited:
		if ch.cancel != nil {
			return fmt.Errorf("userflow-sync exited early: %v", ch.runErr)
		}
		return fmt.Errorf("userflow-sync exited early: %v\n%s", ch.cmd.ProcessState, tail(ch.out.String()))
	case <-time.After(timeout):
		return fmt.Errorf("timed out after %v\n%s", timeout, tail(ch.out.String()))
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// naive is the consumer a user writes in an afternoon: a kafka-go group
// Reader, ReadMessage (which commits every message), json.Unmarshal, one
// POST /users per message, in a loop. It runs until the topic is consumed or
// the budget is spent; it returns events and the elapsed time from the first
// message read.
// minRequests sends the last version of every key of w, inFlight requests at
// once, and returns how long it took.
func minRequests(baseURL string, w workload, inFlight int) (time.Duration, error) {
	client, err := userflow.NewClient(baseURL, apiKey)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	keys := make(chan int)
	errs := make(chan error, inFlight)
	start := time.Now()
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for k := range keys {
				_, _, err := client.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: string(keyBytes(k)),
					Attributes: userflow.Attributes{"name": fmt.Sprintf("user %d v%d", k, w.perKey()), "version": w.perKey()}})
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	for k := range w.keys {
		select {
		case keys <- k:
		case <-ctx.Done():
		}
	}
	close(keys)
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
		return d, nil
	}
}

func naive(c *cluster, baseURL string, budget time.Duration, total int) (int, time.Duration, error) {
	client, err := userflow.NewClient(baseURL, apiKey)
	if err != nil {
		return 0, 0, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.addrs, GroupID: "naive-" + c.topic, Topic: c.topic})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), budget+60*time.Second)
	defer cancel()
	var start time.Time
	n := 0
	for n < total {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return n, time.Since(start), err
		}
		if n == 0 {
			start = time.Now()
		}
		var row struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(m.Value, &row); err != nil {
			continue
		}
		_, _, err = client.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: row.ID,
			Attributes: userflow.Attributes{"name": row.Name, "version": row.Version}})
		if err != nil {
			return n, time.Since(start), err
		}
		n++
		if time.Since(start) > budget {
			break
		}
	}
	return n, time.Since(start), nil
}

// bare reads every message of the topic with one kafka-go partition Reader
// per partition (the consumer's own fetch settings), FetchMessage and nothing
// else.
func bare(c *cluster, ends []int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	var firstAt atomic.Int64
	for p, end := range ends {
		if end == 0 {
			continue
		}
		wg.Go(func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.addrs, Topic: c.topic, Partition: p,
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: bareMaxWait})
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				firstAt.CompareAndSwap(0, time.Now().UnixNano())
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if m.Offset >= end-1 {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "  bare: first message after %v, all after %v\n", time.Unix(0, firstAt.Load()).Sub(start), elapsed)
	if err, ok := firstErr.Load().(error); ok {
		return elapsed, err
	}
	return elapsed, nil
}

// mappingConfig is the sync of the generated config, for decode+map.
func mappingConfig() mapping.Config {
	return mapping.Config{Format: mapping.FormatJSON, Object: mapping.ObjectUser, IDColumn: "id",
		Attributes: map[string]mapping.AttributeSpec{
			"name":    {Column: "name"},
			"version": {Column: "version", Type: mapping.TypeNumber},
		}}
}

// decodeMap maps every event of the workload once, on one goroutine, and
// returns events/s.
func decodeMap(w workload) (float64, error) {
	m, err := mapping.New(mappingConfig())
	if err != nil {
		return 0, err
	}
	msgs := make([]mapping.Message, w.events)
	for i := range msgs {
		k, v := w.event(i)
		msgs[i] = mapping.Message{Key: keyBytes(k), Value: value(k, v)}
	}
	start := time.Now()
	for _, msg := range msgs {
		if _, err := m.Map(msg); err != nil {
			return 0, err
		}
	}
	return float64(w.events) / time.Since(start).Seconds(), nil
}

var bareMaxWait = 50 * time.Millisecond

// startInProcess runs the consumer as the binary builds it (internal/config),
// without the metrics server and readiness probe, in this process.
func startInProcess(text []byte, hc *http.Client) (*child, error) {
	cfg, err := config.Parse(text, func(name string) (string, bool) {
		if name == "USERFLOW_API_KEY" {
			return apiKey, true
		}
		return os.LookupEnv(name)
	})
	if err != nil {
		return nil, err
	}
	client, err := cfg.UserflowClient()
	if hc != nil { // the same options as UserflowClient, and hc
		u := &cfg.Userflow
		hc.Timeout = u.Timeout
		client, err = userflow.NewClient(u.BaseURL, string(u.APIKey),
			userflow.WithLimiter(userflow.NewLimiter(u.RateLimit, u.RateBurst)), userflow.WithHTTPClient(hc))
	}
	if err != nil {
		return nil, err
	}
	ccfg, err := cfg.ConsumerConfig()
	if err != nil {
		return nil, err
	}
	c, err := consumer.New(ccfg, client, zap.NewNop())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := &child{out: &bytes.Buffer{}, started: time.Now(), exited: make(chan struct{}), cancel: cancel}
	if memProfile != "" {
		path := memProfile
		memProfile = ""
		time.AfterFunc(memProfileAfter, func() {
			runtime.GC()
			f, err := os.Create(path)
			if err == nil {
				err = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "memprofile:", err)
			}
		})
	}
	go pprof.Do(ctx, pprof.Labels("side", "userflow-sync"), func(ctx context.Context) {
		ch.runErr = c.Run(ctx)
		close(ch.exited)
	})
	return ch, nil
}
