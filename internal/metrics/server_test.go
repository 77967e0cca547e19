package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandler(t *testing.T) {
	health := NewHealth(GroupJoined, UserflowReachable)
	h := Handler(testRegistry(t, testStats()), health)

	if code, body := get(t, h, http.MethodGet, "/metrics"); code != http.StatusOK || !strings.Contains(body, "\nuserflow_sync_events_read_total 12\n") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, body := get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	for _, step := range []struct {
		set  string
		code int
		body string
	}{
		{"", http.StatusServiceUnavailable, "not ready: group_joined, userflow_reachable\n"},
		{GroupJoined, http.StatusServiceUnavailable, "not ready: userflow_reachable\n"},
		{UserflowReachable, http.StatusOK, "ready\n"},
	} {
		if step.set != "" {
			health.Set(step.set, true)
		}
		if code, body := get(t, h, http.MethodGet, "/readyz"); code != step.code || body != step.body {
			t.Errorf("/readyz after setting %q: %d %q, want %d %q", step.set, code, body, step.code, step.body)
		}
	}
	health.Set(GroupJoined, false)
	if code, _ := get(t, h, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the group was left: %d, want 503", code)
	}
	if code, _ := get(t, h, http.MethodPost, "/healthz"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", code)
	}
}

func TestHealthConcurrent(t *testing.T) {
	var h Health // the zero value is ready
	if nr := h.NotReady(); len(nr) != 0 {
		t.Fatalf("zero Health not ready: %v", nr)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h.Set(GroupJoined, i%2 == 0)
			h.NotReady()
		})
	}
	wg.Wait()
}

func TestServeListener(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	h, log := Handler(testRegistry(t, testStats()), NewHealth()), zaptest.NewLogger(t)
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, h, log) }()

	// The listener is bound, so this request waits for the server to accept.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Errorf("/readyz: %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after ctx was cancelled")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still accepting connections after shutdown")
	}
}

func TestServeBindError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(t.Context(), ln.Addr().String(), http.NotFoundHandler(), zaptest.NewLogger(t))
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Serve on a used address: %v, want EADDRINUSE", err)
	}
}
