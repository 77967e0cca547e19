package main_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(ok.Close)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready: group_joined", http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)
	// An address nothing listens on: a closed server's.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"200", []string{"--url", ok.URL + "/healthz"}, 0},
		{"503", []string{"--url", notReady.URL + "/readyz"}, 1},
		{"404", []string{"--url", ok.URL + "/nope"}, 1},
		{"nothing listening", []string{"--url", closedURL + "/healthz"}, 1},
		{"bad flag", []string{"--nope"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBinary(t, nil, append([]string{"healthcheck"}, tc.args...)...)
			if r.code != tc.want {
				t.Errorf("healthcheck %v: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}
