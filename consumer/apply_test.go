package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

const testKey = "ak_consumer_test"

func newTestApplier(t *testing.T, faults userflowtest.Faults) (*applier, *userflowtest.Server, *[]time.Duration) {
	t.Helper()
	srv := userflowtest.NewServer(userflowtest.Options{APIKey: testKey, Faults: faults})
	t.Cleanup(srv.Close)
	c, err := userflow.NewClient(srv.URL, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	a := &applier{
		api:   clientAPI{c: c, stats: &counters{}},
		retry: RetryConfig{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond},
		onRetry: func(_ *mapping.Operation, _ error, wait time.Duration) {
			waits = append(waits, wait)
		},
	}
	return a, srv, &waits
}

func upsertUser(id string, mode mapping.Mode, attrs userflow.Attributes) *mapping.Operation {
	return &mapping.Operation{Action: mapping.ActionUpsert, Object: mapping.ObjectUser, Mode: mode, ID: id,
		User: &userflow.UpsertUserRequest{ID: id, Attributes: attrs}}
}

func TestApplyUpsertAndDelete(t *testing.T) {
	a, srv, _ := newTestApplier(t, userflowtest.Faults{})
	ctx := context.Background()
	if out, err := a.apply(ctx, upsertUser("u1", mapping.ModeUpsert, userflow.Attributes{"plan": "pro"})); err != nil || out != OutcomeApplied {
		t.Fatalf("upsert: %v, %v", out, err)
	}
	if u, ok := srv.User("u1"); !ok || u.Attributes["plan"] != "pro" {
		t.Fatalf("user after upsert: %+v, %v", u, ok)
	}
	del := &mapping.Operation{Action: mapping.ActionDelete, Object: mapping.ObjectUser, ID: "u1"}
	if out, err := a.apply(ctx, del); err != nil || out != OutcomeApplied {
		t.Fatalf("delete: %v, %v", out, err)
	}
	// The tombstone's delete, or a replay after a crash: already gone is done.
	if out, err := a.apply(ctx, del); err != nil || out != OutcomeAlreadyDeleted {
		t.Fatalf("second delete: %v, %v; want already deleted", out, err)
	}
}

func TestApplyUpdateModeNeverCreates(t *testing.T) {
	a, srv, _ := newTestApplier(t, userflowtest.Faults{})
	ctx := context.Background()
	if out, err := a.apply(ctx, upsertUser("ghost", mapping.ModeUpdate, userflow.Attributes{"x": 1})); err != nil || out != OutcomeMissing {
		t.Fatalf("update of a missing user: %v, %v; want missing", out, err)
	}
	group := &mapping.Operation{Action: mapping.ActionUpsert, Object: mapping.ObjectGroup, Mode: mapping.ModeUpdate, ID: "g",
		Group: &userflow.GroupRequest{ID: "g"}}
	if out, err := a.apply(ctx, group); err != nil || out != OutcomeMissing {
		t.Fatalf("update of a missing group: %v, %v; want missing", out, err)
	}
	if st := srv.State(); len(st.Users) != 0 || len(st.Groups) != 0 {
		t.Fatalf("update mode created objects: %+v", st)
	}

	// An existing user gets its attributes and its memberships to existing
	// groups; a membership to a missing group is dropped, not created.
	if _, err := a.apply(ctx, upsertUser("u", mapping.ModeUpsert, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.apply(ctx, &mapping.Operation{Action: mapping.ActionUpsert, Object: mapping.ObjectGroup, Mode: mapping.ModeUpsert, ID: "real", Group: &userflow.GroupRequest{ID: "real"}}); err != nil {
		t.Fatal(err)
	}
	op := upsertUser("u", mapping.ModeUpdate, userflow.Attributes{"x": 2})
	op.User.Memberships = []userflow.MembershipRequest{
		{Attributes: userflow.Attributes{"role": "admin"}, Group: userflow.GroupRequest{ID: "real"}},
		{Attributes: userflow.Attributes{"role": "admin"}, Group: userflow.GroupRequest{ID: "missing"}},
	}
	if out, err := a.apply(ctx, op); err != nil || out != OutcomeApplied {
		t.Fatalf("update: %v, %v", out, err)
	}
	if _, ok := srv.Group("missing"); ok {
		t.Error("update mode created the embedded group")
	}
	if _, ok := srv.Membership("u", "real"); !ok {
		t.Error("membership to the existing group not written")
	}
	if len(op.User.Memberships) != 2 {
		t.Error("apply changed the operation it was given")
	}
}

func TestApplyRetriesTransientErrors(t *testing.T) {
	a, srv, waits := newTestApplier(t, userflowtest.Faults{ErrorRate: 1})
	fails := 3
	a.onRetry = func(_ *mapping.Operation, err error, wait time.Duration) {
		*waits = append(*waits, wait)
		if len(*waits) == fails {
			if err := srv.SetFaults(userflowtest.Faults{}); err != nil {
				t.Error(err)
			}
		}
	}
	if out, err := a.apply(context.Background(), upsertUser("u", mapping.ModeUpsert, userflow.Attributes{"a": "b"})); err != nil || out != OutcomeApplied {
		t.Fatalf("apply: %v, %v", out, err)
	}
	if len(*waits) != fails || len(srv.Requests()) != fails+1 {
		t.Fatalf("%d retries, %d requests; want %d and %d", len(*waits), len(srv.Requests()), fails, fails+1)
	}
}

func TestApplyHonoursRetryAfter(t *testing.T) {
	a, srv, waits := newTestApplier(t, userflowtest.Faults{RateLimitRate: 1, RetryAfter: 1 * time.Second})
	a.onRetry = func(_ *mapping.Operation, _ error, wait time.Duration) {
		*waits = append(*waits, wait)
		_ = srv.SetFaults(userflowtest.Faults{})
	}
	if _, err := a.apply(context.Background(), upsertUser("u", mapping.ModeUpsert, nil)); err != nil {
		t.Fatal(err)
	}
	if len(*waits) != 1 || (*waits)[0] < time.Second {
		t.Fatalf("waits %v: want one wait of at least the 1s Retry-After (backoff alone is ~1ms)", *waits)
	}
}

func TestApplyPermanentAndAuthErrors(t *testing.T) {
	a, _, waits := newTestApplier(t, userflowtest.Faults{PermanentBadIDs: []string{"poison"}})
	_, err := a.apply(context.Background(), upsertUser("poison", mapping.ModeUpsert, nil))
	var ae *ApplyError
	var er *userflow.ErrorResponse
	if !errors.As(err, &ae) || ae.Attempts != 1 || ae.Exhausted || !errors.As(err, &er) || er.StatusCode != 400 {
		t.Fatalf("err = %v; want a permanent ApplyError after 1 attempt carrying the 400", err)
	}
	if len(*waits) != 0 {
		t.Fatalf("a 400 was retried %d times", len(*waits))
	}

	a, _, _ = newTestApplier(t, userflowtest.Faults{Unauthorized: true})
	_, err = a.apply(context.Background(), upsertUser("u", mapping.ModeUpsert, nil))
	if !errors.Is(err, ErrUnauthorized) || errors.As(err, &ae) {
		t.Fatalf("err = %v; want ErrUnauthorized, not a dead-letter error", err)
	}
}

func TestApplyGivesUpAfterMaxElapsed(t *testing.T) {
	a, _, waits := newTestApplier(t, userflowtest.Faults{ErrorRate: 1})
	a.retry.MaxElapsed = 20 * time.Millisecond
	_, err := a.apply(context.Background(), upsertUser("u", mapping.ModeUpsert, nil))
	var ae *ApplyError
	if !errors.As(err, &ae) || !ae.Exhausted || ae.Attempts != len(*waits)+1 {
		t.Fatalf("err = %v after %d retries; want exhausted", err, len(*waits))
	}
}

func TestApplyStopsWhenContextEnds(t *testing.T) {
	a, _, _ := newTestApplier(t, userflowtest.Faults{ErrorRate: 1})
	ctx, cancel := context.WithCancel(context.Background())
	a.onRetry = func(*mapping.Operation, error, time.Duration) { cancel() }
	_, err := a.apply(ctx, upsertUser("u", mapping.ModeUpsert, nil))
	var ae *ApplyError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ae) {
		t.Fatalf("err = %v; want context.Canceled and no dead-letter error", err)
	}
}
