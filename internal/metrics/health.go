package metrics

import (
	"slices"
	"sync"
)

// Readiness conditions for the command to set; Health takes any name.
const (
	// GroupJoined: the consumer is a member of its consumer group.
	GroupJoined = "group_joined"
	// UserflowReachable: Userflow answered the last request (any status but
	// 401/403), as opposed to a network failure or an auth rejection.
	UserflowReachable = "userflow_reachable"
)

// Health is the set of named readiness conditions behind /readyz. The zero
// value has no conditions and is ready. Safe for concurrent use.
type Health struct {
	mu    sync.Mutex
	conds map[string]bool
}

// NewHealth returns a Health with the named conditions, each not holding
// yet: the process is not ready until every one has been Set to true.
func NewHealth(conditions ...string) *Health {
	h := &Health{}
	for _, c := range conditions {
		h.Set(c, false)
	}
	return h
}

// Set records whether the named condition holds, adding it if it is new.
func (h *Health) Set(name string, holds bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conds == nil {
		h.conds = map[string]bool{}
	}
	h.conds[name] = holds
}

// NotReady returns the sorted names of the conditions that do not hold;
// none means ready.
func (h *Health) NotReady() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for name, holds := range h.conds {
		if !holds {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
