package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// startAdmin runs a kfake cluster with the given number of brokers and a
// one-partition topic "t", and the admin surface against it, both closed
// when the test ends (the server first: its handlers hang on a closed
// cluster).
func startAdmin(t *testing.T, brokers int) (*kfake.Cluster, *httptest.Server) {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(brokers),
		kfake.Ports(make([]int, brokers)...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.SeedTopics(1, "t"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := httptest.NewServer(newAdminHandler(c))
	t.Cleanup(srv.Close)
	return c, srv
}

// call sends body (none if "") to the admin server and returns the status
// and the decoded JSON answer.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// mustCall is call that fails the test unless the answer is 200.
func mustCall(t *testing.T, srv *httptest.Server, method, path, body string) map[string]any {
	t.Helper()
	status, out := call(t, srv, method, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s %s: %d %v, want 200", method, path, body, status, out)
	}
	return out
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// commitFunc returns a function committing an offset of t/0 for group as a
// simple (generation -1) commit through kafka-go, returning the request's
// error or else the partition's.
func commitFunc(t *testing.T, ctx context.Context, brokers []string, group string) func(offset int64) error {
	transport := &kafka.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	return func(offset int64) error {
		resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
			GroupID:      group,
			GenerationID: -1,
			Topics:       map[string][]kafka.OffsetCommit{"t": {{Partition: 0, Offset: offset}}},
		})
		if err != nil {
			return err
		}
		if ps := resp.Topics["t"]; len(ps) != 1 {
			t.Fatalf("commit answer for t: %+v, want one partition", resp.Topics)
		}
		return resp.Topics["t"][0].Error
	}
}

// committed returns the offset the cluster holds for group on t/0.
func committed(t *testing.T, c *kfake.Cluster, group string) (int64, bool) {
	t.Helper()
	info := c.GroupInfo(group)
	if info == nil {
		return 0, false
	}
	cm, ok := info.Commits["t"][0]
	return cm.Offset, ok
}

// A fault installed through POST /faults fails exactly count commits of its
// group with its error, and nothing of another group; the next commit is
// stored.
func TestFaultFailsCommitsCountTimes(t *testing.T) {
	c, srv := startAdmin(t, 1)
	ctx := testCtx(t)
	out := mustCall(t, srv, "POST", "/faults", `{"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","count":3,"group":"g"}`)
	if out["installed"] != true {
		t.Fatalf("POST /faults answered %v, want installed: true", out)
	}

	if err := commitFunc(t, ctx, c.ListenAddrs(), "other")(7); err != nil {
		t.Fatalf("commit of another group: %v, want it untouched by the fault", err)
	}
	commit := commitFunc(t, ctx, c.ListenAddrs(), "g")
	for i := range 3 {
		if err := commit(int64(i)); !errors.Is(err, kafka.RebalanceInProgress) {
			t.Fatalf("commit %d: %v, want %v", i+1, err, kafka.RebalanceInProgress)
		}
	}
	if off, ok := committed(t, c, "g"); ok {
		t.Fatalf("a faulted commit was stored: offset %d", off)
	}
	if err := commit(42); err != nil {
		t.Fatalf("commit after the fault's 3: %v, want success", err)
	}
	if off, ok := committed(t, c, "g"); !ok || off != 42 {
		t.Fatalf("committed offset %d (%v), want 42", off, ok)
	}
}

// A fault with count -1 lasts until DELETE /faults removes it.
func TestDeleteFaultsRemovesUnlimitedFault(t *testing.T) {
	c, srv := startAdmin(t, 1)
	commit := commitFunc(t, testCtx(t), c.ListenAddrs(), "g")
	mustCall(t, srv, "POST", "/faults", `{"api":"OffsetCommit","error":"ILLEGAL_GENERATION","count":-1,"topic":"t"}`)
	for i := range 5 {
		if err := commit(1); !errors.Is(err, kafka.IllegalGeneration) {
			t.Fatalf("commit %d: %v, want %v", i+1, err, kafka.IllegalGeneration)
		}
	}
	if out := mustCall(t, srv, "DELETE", "/faults", ""); out["removed"] != 1.0 {
		t.Fatalf("DELETE /faults answered %v, want removed: 1", out)
	}
	if err := commit(2); err != nil {
		t.Fatalf("commit after DELETE /faults: %v", err)
	}
}

// readPartitions sends one Metadata request on a new connection.
func readPartitions(ctx context.Context, addr string) error {
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ReadPartitions("t")
	return err
}

// isConnectionError reports whether err is the client seeing its connection
// closed, not a Kafka error answer.
func isConnectionError(err error) bool {
	var kerr kafka.Error
	if err == nil || errors.As(err, &kerr) {
		return false
	}
	var opErr *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &opErr)
}

// POST /drop closes the connection of the next count requests of its API;
// later ones, and other APIs' (the connection's ApiVersions), are served.
func TestDropClosesNextRequestsConnections(t *testing.T) {
	c, srv := startAdmin(t, 1)
	ctx := testCtx(t)
	addr := c.ListenAddrs()[0]
	if out := mustCall(t, srv, "POST", "/drop", `{"api":"Metadata","count":2}`); out["armed"] != true {
		t.Fatalf("POST /drop answered %v, want armed: true", out)
	}
	for i := range 2 {
		if err := readPartitions(ctx, addr); !isConnectionError(err) {
			t.Fatalf("metadata request %d: %v, want a closed connection", i+1, err)
		}
	}
	for i := range 2 {
		if err := readPartitions(ctx, addr); err != nil {
			t.Fatalf("metadata request %d after the drops: %v", i+3, err)
		}
	}
}

// A drop with count -1 lasts until DELETE /drop disarms it.
func TestDeleteDropDisarms(t *testing.T) {
	c, srv := startAdmin(t, 1)
	ctx := testCtx(t)
	addr := c.ListenAddrs()[0]
	mustCall(t, srv, "POST", "/drop", `{"api":"Metadata","count":-1}`)
	for i := range 4 {
		if err := readPartitions(ctx, addr); !isConnectionError(err) {
			t.Fatalf("metadata request %d: %v, want a closed connection", i+1, err)
		}
	}
	if out := mustCall(t, srv, "DELETE", "/drop", ""); out["disarmed"] != 1.0 {
		t.Fatalf("DELETE /drop answered %v, want disarmed: 1", out)
	}
	if err := readPartitions(ctx, addr); err != nil {
		t.Fatalf("metadata request after DELETE /drop: %v", err)
	}
}

// Bad input answers 400 naming the field, a wrong method 405, an unknown
// path or group 404, and installs nothing.
func TestBadInput(t *testing.T) {
	c, srv := startAdmin(t, 1)
	for _, tc := range []struct {
		method, path, body string
		status             int
		inError            string
	}{
		{"POST", "/faults", `{"error":"REBALANCE_IN_PROGRESS"}`, 400, "api: missing"},
		{"POST", "/faults", `{"api":"OffsetComit","error":"REBALANCE_IN_PROGRESS"}`, 400, `api: unknown request "OffsetComit"`},
		{"POST", "/faults", `{"api":"OffsetCommit"}`, 400, "error: missing"},
		{"POST", "/faults", `{"api":"OffsetCommit","error":"REBALANCING"}`, 400, `error: unknown Kafka error "REBALANCING"`},
		{"POST", "/faults", `{"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","count":-2}`, 400, "count: -2"},
		{"POST", "/faults", `{"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","count":"5"}`, 400, ".count of type int"},
		{"POST", "/faults", `{"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","cout":5}`, 400, `unknown field "cout"`},
		{"POST", "/faults", `{"api":"Nope","error":"NOPE"}`, 400, `api: unknown request "Nope"; want a request name such as OffsetCommit or Fetch; error: unknown Kafka error "NOPE"`},
		{"POST", "/faults", `not json`, 400, "body: "},
		{"POST", "/faults", ``, 400, "body: EOF"},
		{"POST", "/faults", `{"api":"Fetch","error":"NOT_LEADER_FOR_PARTITION"} {}`, 400, "trailing data"},
		{"POST", "/drop", `{"count":1}`, 400, "api: missing"},
		{"POST", "/drop", `{"api":"Fetch","count":-3}`, 400, "count: -3"},
		{"POST", "/move", `{"topic":"t","partition":0}`, 400, "node: missing"},
		{"POST", "/move", `{"partition":-1,"node":0}`, 400, "topic: missing; partition: -1 is negative"},
		{"POST", "/move", `{"topic":"t","partition":0,"node":9}`, 400, "node 9 not found"},
		{"POST", "/move", `{"topic":"nope","partition":0,"node":0}`, 400, "topic/partition not found"},
		{"GET", "/faults", "", 405, "method GET not allowed"},
		{"PUT", "/drop", "", 405, "method PUT not allowed"},
		{"GET", "/move", "", 405, "method GET not allowed"},
		{"DELETE", "/healthz", "", 405, "method DELETE not allowed"},
		{"POST", "/groups/g", "", 405, "method POST not allowed"},
		{"GET", "/groups/nope", "", 404, `group "nope" not found`},
		{"GET", "/nowhere", "", 404, `no such path "/nowhere"`},
	} {
		status, out := call(t, srv, tc.method, tc.path, tc.body)
		msg, _ := out["error"].(string)
		if status != tc.status || !strings.Contains(msg, tc.inError) {
			t.Errorf("%s %s %s: %d %q, want %d with %q", tc.method, tc.path, tc.body, status, msg, tc.status, tc.inError)
		}
	}
	if out := mustCall(t, srv, "DELETE", "/faults", ""); out["removed"] != 0.0 {
		t.Errorf("bad input installed faults: DELETE /faults answered %v", out)
	}
	if err := commitFunc(t, testCtx(t), c.ListenAddrs(), "g")(1); err != nil {
		t.Errorf("commit after bad input: %v", err)
	}
}

// The 405 answer carries the methods the path allows.
func TestWrongMethodAllowHeader(t *testing.T) {
	_, srv := startAdmin(t, 1)
	resp, err := srv.Client().Get(srv.URL + "/faults")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	allow := resp.Header.Get("Allow")
	if resp.StatusCode != 405 || !strings.Contains(allow, "POST") || !strings.Contains(allow, "DELETE") {
		t.Fatalf("GET /faults: %d, Allow %q; want 405 allowing POST and DELETE", resp.StatusCode, allow)
	}
}

// /move, /shuffle-leaders, /groups/{group} and /healthz act on the cluster
// and answer as documented.
func TestClusterEndpoints(t *testing.T) {
	c, srv := startAdmin(t, 2)
	if out := mustCall(t, srv, "GET", "/healthz", ""); out["status"] != "ok" {
		t.Errorf("GET /healthz answered %v", out)
	}
	for _, node := range []int32{0, 1, 0} {
		body := fmt.Sprintf(`{"topic":"t","partition":0,"node":%d}`, node)
		if out := mustCall(t, srv, "POST", "/move", body); out["moved"] != true {
			t.Fatalf("POST /move %s answered %v", body, out)
		}
		if got := c.LeaderFor("t", 0); got != node {
			t.Fatalf("after POST /move %s: leader %d", body, got)
		}
	}
	before := c.PartitionInfo("t", 0).Epoch
	if out := mustCall(t, srv, "POST", "/shuffle-leaders", ""); out["shuffled"] != true {
		t.Fatalf("POST /shuffle-leaders answered %v", out)
	}
	if after := c.PartitionInfo("t", 0).Epoch; after != before+1 {
		t.Fatalf("leader epoch %d after a shuffle, want %d", after, before+1)
	}

	if err := commitFunc(t, testCtx(t), c.ListenAddrs(), "g")(5); err != nil {
		t.Fatal(err)
	}
	out := mustCall(t, srv, "GET", "/groups/g", "")
	if out["group"] != "g" || out["state"] != "Empty" || out["members"] != 0.0 || out["generation"] == nil {
		t.Fatalf("GET /groups/g answered %v, want the Empty group g with 0 members", out)
	}
}

// serveAdmin serves until its context is done, then stops the server (and
// its goroutine) and returns nil.
func TestServeAdminStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveAdmin(ctx, ln, http.HandlerFunc(healthz)) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serveAdmin after cancel: %v", err)
	}
}
