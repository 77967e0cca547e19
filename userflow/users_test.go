package userflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUsersService_Upsert(t *testing.T) {
	for _, tt := range []struct {
		name     string
		req      UpsertUserRequest
		wantBody string
		status   int
	}{
		{
			name:     "attributes only: no lists, no prune_memberships",
			req:      UpsertUserRequest{ID: "u-42", Attributes: Attributes{"email": "ann@example.com", "plan": "pro", "seats": 3}},
			wantBody: `{"id":"u-42","attributes":{"email":"ann@example.com","plan":"pro","seats":3}}`,
			status:   http.StatusOK,
		},
		{
			name:     "prune without a list is not sent",
			req:      UpsertUserRequest{ID: "u-42", PruneMemberships: true},
			wantBody: `{"id":"u-42"}`,
			status:   http.StatusCreated,
		},
		{
			name: "memberships send prune_memberships false",
			req: UpsertUserRequest{ID: "u-42", Memberships: []MembershipRequest{
				{Attributes: Attributes{"role": "admin"}, Group: GroupRequest{ID: "c-7", Attributes: Attributes{"name": "Acme"}}},
			}},
			wantBody: `{"id":"u-42","memberships":[{"attributes":{"role":"admin"},"group":{"id":"c-7","attributes":{"name":"Acme"}}}],"prune_memberships":false}`,
			status:   http.StatusOK,
		},
		{
			name:     "groups with prune",
			req:      UpsertUserRequest{ID: "u-42", Groups: []GroupRequest{{ID: "c-7"}}, PruneMemberships: true},
			wantBody: `{"id":"u-42","groups":[{"id":"c-7"}],"prune_memberships":true}`,
			status:   http.StatusCreated,
		},
		{
			name:     "empty group list with prune: member of no group",
			req:      UpsertUserRequest{ID: "u-42", Groups: []GroupRequest{}, PruneMemberships: true},
			wantBody: `{"id":"u-42","groups":[],"prune_memberships":true}`,
			status:   http.StatusOK,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
				testHeaders(t, r, true)
				testJSONBody(t, r, tt.wantBody)
				w.Header().Set("X-Request-Id", "req-7")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, `{"id":"u-42","object":"user","attributes":{"plan":"pro"},"created_at":"2024-01-02T03:04:05Z","extra":1}`)
			})
			user, resp, err := c.Users.Upsert(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			want := &User{ID: "u-42", Object: "user", Attributes: Attributes{"plan": "pro"}, CreatedAt: "2024-01-02T03:04:05Z"}
			if diff := cmp.Diff(want, user); diff != "" {
				t.Errorf("user mismatch (-want +got):\n%s", diff)
			}
			if resp.StatusCode != tt.status || resp.RequestID != "req-7" {
				t.Errorf("response status %d, request id %q", resp.StatusCode, resp.RequestID)
			}
		})
	}
}

// TestUsersService_Upsert_invalid checks that invalid requests are refused
// before sending: setup fails the test on any request.
func TestUsersService_Upsert_invalid(t *testing.T) {
	c, _ := setup(t)
	for _, tt := range []struct {
		name string
		req  *UpsertUserRequest
		is   error
	}{
		{"nil", nil, nil},
		{"no id", &UpsertUserRequest{Attributes: Attributes{"a": 1}}, nil},
		{"groups and memberships", &UpsertUserRequest{ID: "u", Groups: []GroupRequest{{ID: "g"}}, Memberships: []MembershipRequest{{Group: GroupRequest{ID: "g"}}}}, ErrGroupsAndMemberships},
		{"empty groups and memberships", &UpsertUserRequest{ID: "u", Groups: []GroupRequest{}, Memberships: []MembershipRequest{}}, ErrGroupsAndMemberships},
		{"bad attribute name", &UpsertUserRequest{ID: "u", Attributes: Attributes{"a.b": 1}}, nil},
		{"group without id", &UpsertUserRequest{ID: "u", Groups: []GroupRequest{{}}}, nil},
	} {
		user, resp, err := c.Users.Upsert(context.Background(), tt.req)
		if err == nil || user != nil || resp != nil {
			t.Errorf("%s: Upsert = %v, %v, %v; want only an error", tt.name, user, resp, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.is)
		}
		if IsRetryable(err) {
			t.Errorf("%s: invalid request is retryable", tt.name)
		}
	}
}

func TestUsersService_Get(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /users/u-42", func(w http.ResponseWriter, r *http.Request) {
		testHeaders(t, r, false)
		testNoBody(t, r)
		fmt.Fprint(w, `{"id":"u-42","object":"user","attributes":{"n":1.5}}`)
	})
	user, _, err := c.Users.Get(context.Background(), "u-42")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&User{ID: "u-42", Object: "user", Attributes: Attributes{"n": 1.5}}, user); diff != "" {
		t.Errorf("user mismatch (-want +got):\n%s", diff)
	}
}

func TestUsersService_Get_notFound(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /users/nobody", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-9")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"No such user"}}`)
	})
	user, resp, err := c.Users.Get(context.Background(), "nobody")
	if !IsNotFound(err) || IsRetryable(err) || user != nil {
		t.Fatalf("Get = %v, %v; want a not-found error", user, err)
	}
	want := &ErrorResponse{StatusCode: 404, Code: "not_found", Message: "No such user", RequestID: "req-9", Method: "GET", Path: baseURLPath + "/users/nobody"}
	var e *ErrorResponse
	if !errors.As(err, &e) {
		t.Fatalf("err = %T, want *ErrorResponse", err)
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("response = %v, want the 404", resp)
	}
}

func TestUsersService_Delete(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusNoContent} {
		c, mux := setup(t)
		mux.HandleFunc("DELETE /users/u-42", func(w http.ResponseWriter, r *http.Request) {
			testHeaders(t, r, false)
			testNoBody(t, r)
			w.WriteHeader(status)
			if status == http.StatusOK {
				fmt.Fprint(w, `{"id":"u-42","object":"user","deleted":true}`)
			}
		})
		resp, err := c.Users.Delete(context.Background(), "u-42")
		if err != nil || resp.StatusCode != status {
			t.Errorf("Delete with %d = %v, %v", status, resp, err)
		}
	}
}

// escapedIDs are ids that must reach the server as one path segment.
var escapedIDs = []string{"a/b", "a?b=c", "a#b", "a b", "ünïcødé 👋", "100%", "a+b", "x:y", "a;b", "%2F", "...", "a/../b/..x"}

func TestUsersService_escaping(t *testing.T) {
	for _, id := range escapedIDs {
		c, mux := setup(t)
		var calls int
		mux.HandleFunc("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
			calls++
			if got := r.PathValue("id"); got != id {
				t.Errorf("%s id = %q, want %q", r.Method, got, id)
			}
			if got, want := r.URL.EscapedPath(), "/users/"+url.PathEscape(id); got != want {
				t.Errorf("%s path = %q, want %q", r.Method, got, want)
			}
			fmt.Fprint(w, `{}`)
		})
		if _, _, err := c.Users.Get(context.Background(), id); err != nil {
			t.Errorf("Get(%q): %v", id, err)
		}
		if _, err := c.Users.Delete(context.Background(), id); err != nil {
			t.Errorf("Delete(%q): %v", id, err)
		}
		if calls != 2 {
			t.Errorf("id %q: %d requests reached /users/{id}, want 2", id, calls)
		}
	}
}

func TestUsersService_badIDs(t *testing.T) {
	c, _ := setup(t) // fails the test on any request
	for _, id := range []string{"", ".", ".."} {
		if _, _, err := c.Users.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) succeeded", id)
		}
		if _, err := c.Users.Delete(context.Background(), id); err == nil {
			t.Errorf("Delete(%q) succeeded", id)
		}
	}
}
