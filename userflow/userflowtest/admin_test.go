package userflowtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// admin sends an admin request without API key or Userflow-Version and
// returns the status and the raw body.
func admin(t *testing.T, s *Server, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	req := newRequest(t, s, method, path, body, delHeader("Authorization"), delHeader("Userflow-Version"), delHeader("Content-Type"))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

func TestAdmin(t *testing.T) {
	// Admin routes work without a key and are never faulted.
	s := newServer(t, Options{Faults: Faults{Unauthorized: true, ErrorRate: 1, ResetRate: 1}})
	if status, _, body := admin(t, s, http.MethodGet, "/healthz", ""); status != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", status, body)
	}
	if status, _, body := admin(t, s, http.MethodPut, "/_admin/faults", `{}`); status != http.StatusOK {
		t.Fatalf("PUT faults: %d %s", status, body)
	}

	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"n":1},"groups":[{"id":"g"}]}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodPost, "/events", `{"name":"e","user_id":"u"}`), http.StatusCreated, "")

	t.Run("state", func(t *testing.T) {
		status, _, body := admin(t, s, http.MethodGet, "/_admin/state", "")
		var got State
		decodeJSON(t, body, &got)
		if diff := cmp.Diff(s.State(), got); status != http.StatusOK || diff != "" {
			t.Errorf("status %d, state (-fake +admin):\n%s", status, diff)
		}
	})
	t.Run("requests", func(t *testing.T) {
		status, _, body := admin(t, s, http.MethodGet, "/_admin/requests", "")
		var got []struct {
			Seq    uint64      `json:"seq"`
			Path   string      `json:"path"`
			Status int         `json:"status"`
			Body   string      `json:"body"`
			Header http.Header `json:"header"`
		}
		decodeJSON(t, body, &got)
		if status != http.StatusOK || len(got) != 2 || got[0].Path != "/users" || got[1].Body != `{"name":"e","user_id":"u"}` || got[0].Status != http.StatusCreated {
			t.Errorf("%d %s", status, body)
		}
		if got[0].Header.Get("Authorization") != "[REDACTED]" || strings.Contains(string(body), testKey) {
			t.Errorf("the request log shows the key: %s", body)
		}
	})
	t.Run("stats", func(t *testing.T) {
		status, _, body := admin(t, s, http.MethodGet, "/_admin/stats", "")
		var got Stats
		decodeJSON(t, body, &got)
		wantStats := Stats{Requests: 2, MaxConcurrent: 1, ByStatus: map[int]int{http.StatusCreated: 2}}
		if diff := cmp.Diff(wantStats, got); status != http.StatusOK || diff != "" {
			t.Errorf("status %d, stats (-want +got):\n%s", status, diff)
		}
	})
	t.Run("faults", func(t *testing.T) {
		status, _, body := admin(t, s, http.MethodPut, "/_admin/faults", `{"latency":"5ms","error_rate":1,"retry_after_format":"none","permanent_bad_ids":["x"]}`)
		if status != http.StatusOK {
			t.Fatalf("PUT: %d %s", status, body)
		}
		wantFaults := Faults{Latency: 5 * time.Millisecond, ErrorRate: 1, RetryAfterFormat: RetryAfterNone, PermanentBadIDs: []string{"x"}}
		if diff := cmp.Diff(wantFaults, s.Faults()); diff != "" {
			t.Errorf("faults (-want +got):\n%s", diff)
		}
		_, _, body = admin(t, s, http.MethodGet, "/_admin/faults", "")
		var got Faults
		if err := json.Unmarshal(body, &got); err != nil || !cmp.Equal(wantFaults, got) {
			t.Errorf("GET: %s (%v)", body, err)
		}
		want(t, call(t, s, http.MethodGet, "/users/u", ""), http.StatusInternalServerError, CodeInternalError)

		for _, bad := range []string{`{"error_rate":2}`, `{"latency":"soon"}`, `{"latency":"-1s"}`, `{"errors":1}`, `{"rps_limit":-1}`, `[]`, `{`} {
			status, _, body := admin(t, s, http.MethodPut, "/_admin/faults", bad)
			var e errorBody
			decodeJSON(t, body, &e)
			if status != http.StatusBadRequest || e.Error.Code != CodeInvalidParams {
				t.Errorf("PUT %s: %d %s", bad, status, body)
			}
		}
		if diff := cmp.Diff(wantFaults, s.Faults()); diff != "" {
			t.Errorf("a rejected PUT changed the faults (-want +got):\n%s", diff)
		}
		if status, _, _ := admin(t, s, http.MethodPut, "/_admin/faults", `{}`); status != http.StatusOK || !cmp.Equal(Faults{}, s.Faults()) {
			t.Errorf("PUT {}: %d, faults %+v", status, s.Faults())
		}
	})
	t.Run("reset", func(t *testing.T) {
		if status, _, body := admin(t, s, http.MethodPost, "/_admin/reset", ""); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		empty := newStore()
		if diff := cmp.Diff(empty.snapshot(), s.State()); diff != "" {
			t.Errorf("state after reset (-want +got):\n%s", diff)
		}
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%d requests after reset", n)
		}
		if st := s.Stats(); st.Requests != 0 || len(st.ByStatus) != 0 {
			t.Errorf("stats after reset: %+v", st)
		}
	})
	t.Run("routes", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			status       int
			allow        string
		}{
			{http.MethodGet, "/_admin/", http.StatusNotFound, ""},
			{http.MethodGet, "/_admin/nope", http.StatusNotFound, ""},
			{http.MethodDelete, "/_admin/state", http.StatusMethodNotAllowed, "GET"},
			{http.MethodGet, "/_admin/reset", http.StatusMethodNotAllowed, "POST"},
			{http.MethodPost, "/_admin/faults", http.StatusMethodNotAllowed, "GET, PUT"},
		} {
			status, header, body := admin(t, s, tc.method, tc.path, "")
			if status != tc.status || header.Get("Allow") != tc.allow || header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d Allow %q: %s", tc.method, tc.path, status, header.Get("Allow"), body)
			}
		}
		if n := len(s.Requests()); n != 0 {
			t.Errorf("admin requests were recorded: %d", n)
		}
	})
}
