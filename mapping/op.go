package mapping

import (
	"time"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// Action is what an Operation asks the consumer to do.
type Action uint8

const (
	// ActionSkip: nothing to send; the event is done (see SkipReason).
	ActionSkip Action = iota
	// ActionUpsert: send the User or Group request. In ModeUpdate the
	// consumer must first check that the object exists and never create it.
	ActionUpsert
	// ActionDelete: delete the object with ID. Deleting an object that is
	// not there is done, not an error: coalescing may turn [create, delete]
	// into [delete], and a delete's tombstone repeats it.
	ActionDelete
)

func (a Action) String() string {
	switch a {
	case ActionSkip:
		return "skip"
	case ActionUpsert:
		return "upsert"
	case ActionDelete:
		return "delete"
	}
	return "unknown"
}

// SkipReason says why an event produced no request. Every skipped event is
// counted by the consumer under its reason.
type SkipReason string

const (
	SkipUnchanged      SkipReason = "unchanged"        // update changed no mapped column (before image complete)
	SkipTruncate       SkipReason = "truncate"         // op "t"
	SkipMessage        SkipReason = "message"          // op "m"
	SkipDeleteIgnored  SkipReason = "on_delete_ignore" // delete with on_delete: ignore
	SkipTombstoneNoKey SkipReason = "tombstone_no_id"  // tombstone whose key does not hold id_column
)

// Target identifies one Userflow object: the unit of batching, ordering and
// coalescing. It is comparable and can be a map key.
type Target struct {
	Object Object
	ID     string
}

func (t Target) String() string { return string(t.Object) + ":" + t.ID }

// Operation is the outcome of mapping one event: one request's worth of work
// for one Userflow object, or a skip.
type Operation struct {
	Action Action
	Skip   SkipReason // set when Action == ActionSkip

	Object Object
	Mode   Mode   // matters only for upserts: ModeUpdate never creates
	ID     string // the Userflow user or group id; empty for some skips

	// User is set when Action == ActionUpsert and Object == ObjectUser.
	User *userflow.UpsertUserRequest
	// Group is set when Action == ActionUpsert and Object == ObjectGroup.
	Group *userflow.GroupRequest

	// Tombstone marks a delete that came from a tombstone (null value).
	// Coalesce folds it into a preceding delete of the same target.
	Tombstone bool

	// SourceTime is when the change happened in the source database
	// (source.ts_ms, __source_ts_ms); zero when the event does not say.
	SourceTime time.Time
}

// Target returns the object the operation is about.
func (o *Operation) Target() Target { return Target{Object: o.Object, ID: o.ID} }
