package consumer

import (
	"context"
	"net/url"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// Option adjusts a Consumer beyond its Config.
type Option func(*Consumer)

// DryRunRequest is a write a dry run would have sent to Userflow.
type DryRunRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"` // ids escaped as the client would send them
	Body   any    `json:"body,omitempty"`
}

// WithDryRun makes the consumer write nothing: each write request that would
// go to Userflow is passed to record instead (from worker goroutines,
// concurrently, in per-object order), no offset is ever committed, and bad
// events are counted (outcome skipped_bad), not dead-lettered. Reads, such
// as update mode's existence checks, still go to Userflow.
func WithDryRun(record func(DryRunRequest)) Option {
	return func(c *Consumer) {
		c.dryRun = true
		c.apply.api = dryRunAPI{userflowAPI: c.apply.api, record: record}
	}
}

// WithMaxEvents stops fetching after n events in all (n <= 0: no limit). Run
// still runs until its context ends; Stats tell when the n events are done.
func WithMaxEvents(n int64) Option {
	return func(c *Consumer) { c.maxEvents = n }
}

// dryRunAPI records writes and passes reads through.
type dryRunAPI struct {
	userflowAPI
	record func(DryRunRequest)
}

func (d dryRunAPI) UpsertUser(_ context.Context, req *userflow.UpsertUserRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	d.record(DryRunRequest{Method: "POST", Path: "/users", Body: req})
	return nil
}

func (d dryRunAPI) UpsertGroup(_ context.Context, req *userflow.GroupRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	d.record(DryRunRequest{Method: "POST", Path: "/groups", Body: req})
	return nil
}

func (d dryRunAPI) DeleteUser(_ context.Context, id string) error {
	d.record(DryRunRequest{Method: "DELETE", Path: "/users/" + url.PathEscape(id)})
	return nil
}

func (d dryRunAPI) DeleteGroup(_ context.Context, id string) error {
	d.record(DryRunRequest{Method: "DELETE", Path: "/groups/" + url.PathEscape(id)})
	return nil
}
