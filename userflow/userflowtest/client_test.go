package userflowtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userflow-sync/userflow-sync/userflow"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// These tests run the real client against the strict fake: every request the
// client builds must pass the fake's checks, and every fault the fake injects
// must reach the caller as the error class the consumer relies on.

const key = "ak_client_vs_fake"

func newPair(t *testing.T, faults userflowtest.Faults) (*userflowtest.Server, *userflow.Client) {
	t.Helper()
	srv := userflowtest.NewServer(userflowtest.Options{APIKey: key, Seed: 7, Faults: faults})
	t.Cleanup(srv.Close)
	c, err := userflow.NewClient(srv.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestClientAgainstFakeEveryMethod(t *testing.T) {
	srv, c := newPair(t, userflowtest.Faults{})
	ctx := context.Background()
	id := "u/1 ü?#" // must survive escaping both ways

	if _, _, err := c.Users.Upsert(ctx, &userflow.UpsertUserRequest{
		ID:         id,
		Attributes: userflow.Attributes{"email": "ann@example.com", "plan": "pro"},
		Memberships: []userflow.MembershipRequest{{
			Attributes: userflow.Attributes{"role": "admin"},
			Group:      userflow.GroupRequest{ID: "c-7", Attributes: userflow.Attributes{"name": "Acme"}},
		}},
	}); err != nil {
		t.Fatalf("upsert user: %v", err)
	}
	// A second upsert merges: plan changes, email stays.
	if _, _, err := c.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: id, Attributes: userflow.Attributes{"plan": "team"}}); err != nil {
		t.Fatalf("second upsert: %v", err)
	}
	u, _, err := c.Users.Get(ctx, id)
	if err != nil {
		t.Fatalf("get user: %v", err)
	}
	if diff := cmp.Diff(userflow.Attributes{"email": "ann@example.com", "plan": "team"}, u.Attributes); u.ID != id || diff != "" {
		t.Errorf("user %q attributes (-want +got):\n%s", u.ID, diff)
	}
	if m, ok := srv.Membership(id, "c-7"); !ok || m.Attributes["role"] != "admin" {
		t.Errorf("membership = %+v, %v; want role admin", m, ok)
	}

	if _, _, err := c.Groups.Upsert(ctx, &userflow.GroupRequest{ID: "c-8", Attributes: userflow.Attributes{"seats": json.Number("12")}}); err != nil {
		t.Fatalf("upsert group: %v", err)
	}
	g, _, err := c.Groups.Get(ctx, "c-8")
	if err != nil || g.ID != "c-8" {
		t.Fatalf("get group = %+v, %v", g, err)
	}
	if _, _, err := c.Events.Track(ctx, &userflow.TrackEventRequest{Name: "synced", UserID: id}); err != nil {
		t.Fatalf("track: %v", err)
	}

	if _, err := c.Users.Delete(ctx, id); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	if _, err := c.Groups.Delete(ctx, "c-8"); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	for _, err := range []error{
		second(c.Users.Get(ctx, id)),
		second(c.Groups.Get(ctx, "c-8")),
		errOf(c.Users.Delete(ctx, id)),
	} {
		if !userflow.IsNotFound(err) || userflow.IsRetryable(err) {
			t.Errorf("after delete: %v; want a not-found error", err)
		}
	}
	if _, ok := srv.Group("c-7"); !ok {
		t.Error("deleting the user removed its group; groups must stay")
	}
	for _, r := range srv.Requests() {
		if r.Status >= 400 && r.Status != 404 {
			t.Errorf("fake rejected a client request: %s %s: %d %s", r.Method, r.Path, r.Status, r.ErrorCode)
		}
	}
}

func TestClientAgainstFakePruneMemberships(t *testing.T) {
	srv, c := newPair(t, userflowtest.Faults{})
	ctx := context.Background()
	up := func(prune bool, groups ...string) {
		t.Helper()
		req := &userflow.UpsertUserRequest{ID: "u", Groups: []userflow.GroupRequest{}, PruneMemberships: prune}
		for _, g := range groups {
			req.Groups = append(req.Groups, userflow.GroupRequest{ID: g})
		}
		if _, _, err := c.Users.Upsert(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	up(false, "a", "b")
	up(false, "c") // without prune, a and b stay
	if got := memberOf(srv, "u"); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("without prune: member of %v", got)
	}
	up(true, "c")
	if got := memberOf(srv, "u"); !cmp.Equal(got, []string{"c"}) {
		t.Fatalf("with prune: member of %v", got)
	}
	// Attributes alone never carry prune_memberships, so they touch no membership.
	if _, _, err := c.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: "u", PruneMemberships: true, Attributes: userflow.Attributes{"x": 1}}); err != nil {
		t.Fatalf("prune without a list must not be sent: %v", err)
	}
	if got := memberOf(srv, "u"); !cmp.Equal(got, []string{"c"}) {
		t.Fatalf("after attributes-only upsert: member of %v", got)
	}
}

func memberOf(srv *userflowtest.Server, user string) []string {
	var ids []string
	for _, m := range srv.State().Memberships {
		if m.UserID == user {
			ids = append(ids, m.GroupID)
		}
	}
	return ids
}

func TestClientAgainstFakeErrorClasses(t *testing.T) {
	ctx := context.Background()
	upsert := func(c *userflow.Client, id string) error {
		_, _, err := c.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: id})
		return err
	}
	tests := []struct {
		name                      string
		faults                    userflowtest.Faults
		id                        string
		retryable, auth, wantWait bool
		wait                      time.Duration
		wantStatus                int
	}{
		{name: "500", faults: userflowtest.Faults{ErrorRate: 1}, id: "u", retryable: true, wantStatus: 500},
		{name: "429 with Retry-After seconds", faults: userflowtest.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second}, id: "u", retryable: true, wantWait: true, wait: 2 * time.Second, wantStatus: 429},
		{name: "429 without Retry-After", faults: userflowtest.Faults{RateLimitRate: 1, RetryAfterFormat: userflowtest.RetryAfterNone}, id: "u", retryable: true, wantStatus: 429},
		{name: "401", faults: userflowtest.Faults{Unauthorized: true}, id: "u", auth: true, wantStatus: 401},
		{name: "permanent 400", faults: userflowtest.Faults{PermanentBadIDs: []string{"poison"}}, id: "poison", wantStatus: 400},
		{name: "connection reset", faults: userflowtest.Faults{ResetRate: 1}, id: "u", retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newPair(t, tt.faults)
			err := upsert(c, tt.id)
			if err == nil {
				t.Fatal("no error")
			}
			if got := userflow.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v (%v)", got, tt.retryable, err)
			}
			if got := userflow.IsAuthError(err); got != tt.auth {
				t.Errorf("IsAuthError = %v, want %v (%v)", got, tt.auth, err)
			}
			wait, ok := userflow.RetryAfter(err)
			if ok != tt.wantWait || (ok && wait != tt.wait) {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", wait, ok, tt.wait, tt.wantWait)
			}
			var er *userflow.ErrorResponse
			if tt.wantStatus != 0 && (!errors.As(err, &er) || er.StatusCode != tt.wantStatus || er.RequestID == "") {
				t.Errorf("error %v: want an ErrorResponse with status %d and a request id", err, tt.wantStatus)
			}
		})
	}
}

// A 429 with a wait pauses the shared limiter, so the next request of any
// worker waits instead of hitting the limit again.
func TestClientAgainstFakeLimiterPausesAfter429(t *testing.T) {
	srv, _ := newPair(t, userflowtest.Faults{RateLimitRate: 1, RetryAfter: time.Second})
	lim := userflow.NewLimiter(0, 1)
	c, err := userflow.NewClient(srv.URL, key, userflow.WithLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Users.Upsert(context.Background(), &userflow.UpsertUserRequest{ID: "u"}); err == nil {
		t.Fatal("want a 429")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := lim.Wait(ctx); err == nil {
		t.Fatal("limiter let a request through during the pause a 429 asked for")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("fake saw %d requests, want 1", n)
	}
}

func second[T any](_ T, _ *userflow.Response, err error) error { return err }
func errOf(_ *userflow.Response, err error) error              { return err }
