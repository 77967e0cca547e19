package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// startKfake builds the command and starts it with args, returning it and
// its stdout. The process is killed when the test ends if still running.
func startKfake(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kfake")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, bufio.NewReader(stdout)
}

// stopKfake sends SIGTERM and checks that the command exits 0 after printing
// nothing more than wantRest.
func stopKfake(t *testing.T, cmd *exec.Cmd, stdout *bufio.Reader, wantRest string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stdout) // EOF once the process has exited
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if string(rest) != wantRest {
		t.Fatalf("stdout after the addresses: %q, want %q", rest, wantRest)
	}
}

// The built command serves a Kafka cluster that kafka-go can write to and
// read from, with the topics asked for, prints only the broker addresses
// without -admin, and stops on SIGTERM.
func TestKfakeServesKafka(t *testing.T) {
	cmd, stdout := startKfake(t, "-port", "0", "-topics", "t:2")
	line, err := stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v", err)
	}
	addr := strings.TrimSpace(line)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "t", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("produce: %v", err)
	}
	_ = w.Close()
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions("t")
	_ = conn.Close()
	if err != nil || len(parts) != 2 {
		t.Fatalf("topic t: %d partitions, %v; want 2", len(parts), err)
	}

	stopKfake(t, cmd, stdout, "")
}

// With -admin the command prints the admin address as its second line, and
// a fault installed there fails exactly count offset commits with its error;
// SIGTERM stops the admin server and the cluster.
func TestKfakeAdminFlag(t *testing.T) {
	cmd, stdout := startKfake(t, "-port", "0", "-brokers", "2", "-topics", "t:1", "-admin", "127.0.0.1:0")
	brokersLine, err := stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("no broker addresses printed: %v", err)
	}
	brokers := strings.Split(strings.TrimSpace(brokersLine), ",")
	if len(brokers) != 2 || strings.HasPrefix(brokers[0], "admin") {
		t.Fatalf("first line %q, want the two broker addresses", brokersLine)
	}
	adminLine, err := stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("no admin address printed: %v", err)
	}
	adminURL, ok := strings.CutPrefix(strings.TrimSpace(adminLine), "admin http://127.0.0.1:")
	if !ok || adminURL == "" || adminURL == "0" {
		t.Fatalf("second line %q, want admin http://127.0.0.1:PORT", adminLine)
	}
	adminURL = "http://127.0.0.1:" + adminURL

	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(adminURL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s %s: %d %v %v", path, body, resp.StatusCode, out, err)
		}
		return out
	}
	if out := post("/faults", `{"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","count":2,"group":"g"}`); out["installed"] != true {
		t.Fatalf("POST /faults answered %v", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	commit := func(offset int64) error {
		resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
			GroupID:      "g",
			GenerationID: -1,
			Topics:       map[string][]kafka.OffsetCommit{"t": {{Partition: 0, Offset: offset}}},
		})
		if err != nil {
			return err
		}
		if len(resp.Topics["t"]) != 1 {
			t.Fatalf("commit answer: %+v, want one partition of t", resp.Topics)
		}
		return resp.Topics["t"][0].Error
	}
	for i := range 2 {
		if err := commit(1); !errors.Is(err, kafka.RebalanceInProgress) {
			t.Fatalf("commit %d: %v, want %v", i+1, err, kafka.RebalanceInProgress)
		}
	}
	if err := commit(1); err != nil {
		t.Fatalf("commit after the fault's 2: %v", err)
	}
	if out := post("/shuffle-leaders", ""); out["shuffled"] != true {
		t.Fatalf("POST /shuffle-leaders answered %v", out)
	}

	stopKfake(t, cmd, stdout, "")
}
