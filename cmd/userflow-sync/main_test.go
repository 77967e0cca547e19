package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/internal/kafkatest"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// These tests run the built binary, as a user would.

// sentinelKey must never appear in anything the binary prints.
const sentinelKey = "ak_SENTINEL_must_never_be_printed_42"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "userflow-sync-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "userflow-sync")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the binary: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs the binary to completion with env added to the test's.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	r := result{code, stdout.String(), stderr.String()}
	assertNoSecret(t, r.stdout+r.stderr)
	return r
}

func assertNoSecret(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, sentinelKey) {
		t.Errorf("the API key appears in the output:\n%s", out)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// env is the environment of a binary under test: the key comes from the
// environment, as in production.
func env(extra ...string) []string {
	return append([]string{"USERFLOW_API_KEY=" + sentinelKey}, extra...)
}

const configTemplate = `
kafka:
  brokers: [%q]
  group_id: cli-test
  session_timeout: 2s
  heartbeat_interval: 100ms
  rebalance_timeout: 3s
  fetch_max_wait: 200ms
  commit_interval: 100ms
userflow:
  base_url: %s
  max_in_flight: 4
batch: {max_wait: 20ms}
dead_letter: {topic: %s}
metrics: {listen: %q}
shutdown: {drain_timeout: 1s}
log: {level: debug}
syncs:
  - name: users
    topic: %s
    format: json
    object: user
    id_column: id
    attributes:
      name: name
      signed_up_at: {column: created_at, type: datetime, unit: s}
`

type env2 struct {
	broker *kafkatest.Broker
	fake   *userflowtest.Server
	users  string
	dlq    string
}

func newEnv(t *testing.T) *env2 {
	b := kafkatest.Start(t, map[string]int{"users": 2, "dlq": 1})
	fake := userflowtest.NewServer(userflowtest.Options{APIKey: sentinelKey})
	t.Cleanup(fake.Close)
	return &env2{broker: b, fake: fake, users: b.Topic("users"), dlq: b.Topic("dlq")}
}

func (e *env2) config(t *testing.T, metricsListen string) string {
	return writeConfig(t, fmt.Sprintf(configTemplate, e.broker.Brokers[0], e.fake.URL, e.dlq, metricsListen, e.users))
}

func userMsg(id string, name string) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"name":%q,"created_at":1700000000}`, id, name)}
}

func TestVersionAndHelp(t *testing.T) {
	if r := runBinary(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "userflow-sync ") {
		t.Errorf("version: %+v", r)
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"validate", "--help"}, {"dry-run", "--help"}, {"demo", "--help"}} {
		if r := runBinary(t, nil, args...); r.code != 0 || r.stdout+r.stderr == "" {
			t.Errorf("%v: exit %d, output %q", args, r.code, r.stdout+r.stderr)
		}
	}
	if r := runBinary(t, nil, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d, want 2", r.code)
	}
	if r := runBinary(t, nil, "run"); r.code != 2 || !strings.Contains(r.stderr, "--config") {
		t.Errorf("run without --config: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	good := e.config(t, "")
	if r := runBinary(t, env(), "validate", "--config", good); r.code != 0 || !strings.Contains(r.stdout, "configuration OK") {
		t.Fatalf("valid config: %+v", r)
	}
	r := runBinary(t, env(), "validate", "--config", good, "--print")
	if r.code != 0 || !strings.Contains(r.stdout, "[REDACTED]") {
		t.Fatalf("--print: %+v", r)
	}
	if r := runBinary(t, env(), "validate", "--config", good, "--remote"); r.code != 0 {
		t.Fatalf("--remote against a live broker and fake: %+v", r)
	}

	broken := writeConfig(t, `
kafka: {group_id: g, start_offset: sometimes}
userflow: {base_url: "ftp://x", max_in_flight: 4}
dead_letter: {}
syncs:
  - name: users
    topic: t
    object: person
    attributes: {"bad name!": x}
  - name: users
    object: user
    id_column: user_id
    memberships: {attributes: {role: role}}
    prune_memberships: true
`)
	r = runBinary(t, env(), "validate", "--config", broken)
	if r.code != 3 {
		t.Fatalf("broken config: exit %d, want 3\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"kafka.brokers", "kafka.start_offset", "userflow.base_url", "dead_letter",
		"syncs[0].object", "syncs[0].id_column", "syncs[0].attributes", "syncs[1].name", "syncs[1].topic",
		"syncs[1].memberships.group_id_column",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("broken config: no problem reported for %s in:\n%s", want, r.stderr)
		}
	}
	if r := runBinary(t, env(), "validate", "--config", filepath.Join(t.TempDir(), "missing.yaml")); r.code != 3 {
		t.Errorf("missing file: exit %d, want 3", r.code)
	}
}

func TestDryRunPrintsRequestsAndCommitsNothing(t *testing.T) {
	e := newEnv(t)
	e.broker.Produce(t, e.users, userMsg("a", "Ann"), userMsg("b", "Bob"), userMsg("a", "Ann B."), kafka.Message{Key: []byte("x"), Value: []byte("{oops")})
	r := runBinary(t, env(), "dry-run", "--config", e.config(t, ""), "--max", "4")
	if r.code != 0 {
		t.Fatalf("dry-run: %+v", r)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) < 2 || len(lines) > 3 {
		t.Errorf("%d request lines for 3 good events on 2 users: %s", len(lines), r.stdout)
	}
	if !strings.Contains(r.stderr, "nothing written, nothing committed") {
		t.Errorf("no summary: %s", r.stderr)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("dry run sent %d requests to Userflow", n)
	}
	for p, off := range e.broker.Committed(t, "cli-test", e.users, 2) {
		if off >= 0 {
			t.Errorf("dry run committed offset %d on partition %d", off, p)
		}
	}
	if got := e.broker.ReadAll(t, e.dlq, 1); len(got) != 0 {
		t.Errorf("dry run wrote %d dead letters", len(got))
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run syncs to the fake Userflow, serves metrics and health, and exits 0 on
// SIGTERM with its offsets committed.
func TestRunSyncsServesMetricsAndStopsOnSIGTERM(t *testing.T) {
	e := newEnv(t)
	listen := freePort(t)
	e.broker.Produce(t, e.users, userMsg("a", "Ann"), userMsg("b", "Bob"), userMsg("a", "Ann B."))
	cmd := exec.Command(binary, "run", "--config", e.config(t, listen))
	cmd.Env = append(os.Environ(), env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	waitFor(t, "users synced", func() bool {
		u, ok := e.fake.User("a")
		_, okB := e.fake.User("b")
		return ok && okB && u.Attributes["name"] == "Ann B."
	})
	if u, _ := e.fake.User("a"); u.Attributes["signed_up_at"] != "2023-11-14T22:13:20Z" {
		t.Errorf("signed_up_at = %v", u.Attributes["signed_up_at"])
	}
	base := "http://" + listen
	waitFor(t, "ready", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	code, body := get(base + "/metrics")
	if code != 200 || !strings.Contains(body, `userflow_sync_events_total{op="upsert",outcome="applied",sync="users"}`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after SIGTERM\n%s", out.String())
	}
	var committed int64
	for _, off := range e.broker.Committed(t, "cli-test", e.users, 2) {
		committed += max(off, 0)
	}
	if committed != 3 {
		t.Errorf("committed %d offsets after SIGTERM, want 3\n%s", committed, out.String())
	}
	assertNoSecret(t, out.String())
}

// A rejected API key stops run with exit 1 and a clear message, without
// printing the key.
func TestRunStopsOnRejectedKey(t *testing.T) {
	e := newEnv(t)
	e.fake.SetAPIKey("ak_another_key")
	e.broker.Produce(t, e.users, userMsg("a", "Ann"))
	r := runBinary(t, env(), "run", "--config", e.config(t, ""))
	if r.code != 1 || !strings.Contains(r.stderr, "API key") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestDemo(t *testing.T) {
	r := runBinary(t, nil, "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"events read", "requests sent to Userflow", "events dead-lettered", "users in Userflow"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
}

// A second signal during the drain exits at once, with code 130.
func TestRunSecondSignalExitsAtOnce(t *testing.T) {
	e := newEnv(t)
	release := e.fake.Pause() // requests hang: the first SIGTERM's drain has work to wait for
	defer release()
	e.broker.Produce(t, e.users, userMsg("a", "Ann"))
	long := strings.NewReplacer("drain_timeout: 1s", "drain_timeout: 30s", "session_timeout: 2s", "session_timeout: 1m",
		"rebalance_timeout: 3s", "rebalance_timeout: 1m")
	cfg := writeConfig(t, long.Replace(fmt.Sprintf(configTemplate, e.broker.Brokers[0], e.fake.URL, e.dlq, "", e.users)))
	cmd := exec.Command(binary, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), env()...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	go func() { // closes stopping once the first signal has been handled
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "stopping after in-flight work") {
				close(stopping)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Two requests held: the readiness probe and the user's upsert.
	if err := e.fake.AwaitInFlight(ctx, 2); err != nil {
		t.Fatal("no request reached Userflow")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	// The first starts a drain that would wait up to 30s for the held
	// request; the second, sent once the first was handled (two pending
	// signals of one kind merge into one), must not wait for it.
	select {
	case <-stopping:
	case <-ctx.Done():
		t.Fatal("the first signal was not acknowledged")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Fatalf("exit code %d after a second signal, want 130", code)
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatal("still running after a second signal")
	}
}
