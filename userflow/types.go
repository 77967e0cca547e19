package userflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Attributes are the attribute values of a user, group or membership, keyed by
// Userflow attribute name.
//
// Values are literals as Userflow documents them [doc]: string, number
// (json.Number keeps big decimals exact; any Go integer or float also works),
// bool, a datetime as an ISO 8601 string, a list of literals ([]any), or nil
// (JSON null; whether null clears an attribute is [assumed] unknown, so callers
// send it only when configured to).
type Attributes map[string]any

// UpsertUserRequest is the body of POST /users, which creates the user or merges
// the sent attributes into an existing one [seen].
//
// At most one of Groups and Memberships may be set [seen]; the client rejects a
// request with both before sending it. A nil list is not sent; a non-nil empty
// list is sent as [] (with PruneMemberships it means "member of no group").
// PruneMemberships is only sent when one of the lists is set [doc].
type UpsertUserRequest struct {
	ID               string
	Attributes       Attributes
	Groups           []GroupRequest
	Memberships      []MembershipRequest
	PruneMemberships bool
}

// GroupRequest is a group as the body of POST /groups, and as an entry of
// UpsertUserRequest.Groups. Groups are called "companies" in Userflow's UI.
type GroupRequest struct {
	ID         string     `json:"id"`
	Attributes Attributes `json:"attributes,omitempty"`
}

// UpsertGroupRequest is the body of POST /groups [seen].
type UpsertGroupRequest = GroupRequest

// MembershipRequest is one entry of UpsertUserRequest.Memberships: the
// membership's own attributes (such as role) and the group it links to, which
// Userflow creates when missing [seen].
type MembershipRequest struct {
	Attributes Attributes   `json:"attributes,omitempty"`
	Group      GroupRequest `json:"group"`
}

// TrackEventRequest is the body of POST /events [seen].
type TrackEventRequest struct {
	Name       string     `json:"name"`
	UserID     string     `json:"user_id,omitempty"`
	GroupID    string     `json:"group_id,omitempty"`
	Attributes Attributes `json:"attributes,omitempty"`
}

// Validate reports the first problem that makes r an invalid event request:
// a name is required, and a user or a group to record it on [assumed: an
// event without either cannot be attached to anything].
func (r *TrackEventRequest) Validate() error {
	switch {
	case r.Name == "":
		return errors.New("userflow: event request: name: required")
	case r.UserID == "" && r.GroupID == "":
		return fmt.Errorf("userflow: event %q: user_id or group_id: required", r.Name)
	}
	if err := validateAttributeNames("attributes", r.Attributes); err != nil {
		return fmt.Errorf("userflow: event %q: %w", r.Name, err)
	}
	return nil
}

// ErrGroupsAndMemberships is returned (wrapped) for a user request that sets
// both Groups and Memberships, which Userflow does not accept [seen].
var ErrGroupsAndMemberships = errors.New("groups and memberships: set at most one")

// Validate reports the first problem that makes r an invalid request, naming
// the field. It checks what the client can know without asking Userflow.
func (r *UpsertUserRequest) Validate() error {
	if r.ID == "" {
		return errors.New("userflow: user request: id: required")
	}
	if r.Groups != nil && r.Memberships != nil {
		return fmt.Errorf("userflow: user %q: %w", r.ID, ErrGroupsAndMemberships)
	}
	if err := validateAttributeNames("attributes", r.Attributes); err != nil {
		return fmt.Errorf("userflow: user %q: %w", r.ID, err)
	}
	for i, g := range r.Groups {
		if err := g.validate(fmt.Sprintf("groups[%d]", i)); err != nil {
			return fmt.Errorf("userflow: user %q: %w", r.ID, err)
		}
	}
	for i, m := range r.Memberships {
		path := fmt.Sprintf("memberships[%d]", i)
		if err := validateAttributeNames(path+".attributes", m.Attributes); err != nil {
			return fmt.Errorf("userflow: user %q: %w", r.ID, err)
		}
		if err := m.Group.validate(path + ".group"); err != nil {
			return fmt.Errorf("userflow: user %q: %w", r.ID, err)
		}
	}
	return nil
}

// Validate reports the first problem that makes g an invalid group request.
func (g *GroupRequest) Validate() error {
	if err := g.validate("group"); err != nil {
		return fmt.Errorf("userflow: %w", err)
	}
	return nil
}

func (g *GroupRequest) validate(path string) error {
	if g.ID == "" {
		return fmt.Errorf("%s.id: required", path)
	}
	return validateAttributeNames(path+".attributes", g.Attributes)
}

func validateAttributeNames(path string, attrs Attributes) error {
	for name := range attrs {
		if !ValidAttributeName(name) {
			return fmt.Errorf("%s: invalid attribute name %q (letters, digits, _, - and spaces only)", path, name)
		}
	}
	return nil
}

// ValidAttributeName reports whether name is a valid Userflow attribute name:
// non-empty, made of ASCII letters, digits, '_', '-' and spaces.
//
// [seen, not official] third-party code and Userflow's UI use this rule; the
// API may accept more. Being stricter than the API only rejects configs early.
func ValidAttributeName(name string) bool {
	if name == "" || strings.TrimSpace(name) == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == ' ':
		default:
			return false
		}
	}
	return true
}

// userRequestJSON is the wire shape of UpsertUserRequest. Pointers to slices
// keep "not set" (omitted) apart from "set and empty" ([]).
type userRequestJSON struct {
	ID               string               `json:"id"`
	Attributes       Attributes           `json:"attributes,omitempty"`
	Groups           *[]GroupRequest      `json:"groups,omitempty"`
	Memberships      *[]MembershipRequest `json:"memberships,omitempty"`
	PruneMemberships *bool                `json:"prune_memberships,omitempty"`
}

// MarshalJSON writes the request as Userflow expects it: lists only when set,
// and prune_memberships only when a list is set.
func (r UpsertUserRequest) MarshalJSON() ([]byte, error) {
	w := userRequestJSON{ID: r.ID, Attributes: r.Attributes}
	if r.Groups != nil {
		w.Groups = &r.Groups
	}
	if r.Memberships != nil {
		w.Memberships = &r.Memberships
	}
	if r.Groups != nil || r.Memberships != nil {
		prune := r.PruneMemberships
		w.PruneMemberships = &prune
	}
	return json.Marshal(w)
}

// User is a user as Userflow returns it [seen]; fields Userflow adds that the
// product does not use are ignored.
type User struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Attributes Attributes `json:"attributes,omitempty"`
	CreatedAt  string     `json:"created_at,omitempty"`
}

// Group is a group (company) as Userflow returns it [seen].
type Group struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Attributes Attributes `json:"attributes,omitempty"`
	CreatedAt  string     `json:"created_at,omitempty"`
}

// Event is an event as Userflow returns it from POST /events [assumed shape].
type Event struct {
	ID     string `json:"id,omitempty"`
	Object string `json:"object,omitempty"`
	Name   string `json:"name"`
}
