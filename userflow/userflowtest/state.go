package userflowtest

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"
)

// State is a deep copy of everything the fake stores. Attribute values are
// what JSON decoding with UseNumber gives: string, json.Number, bool, nil, or
// []any of those.
type State struct {
	Users  map[string]User  `json:"users"`
	Groups map[string]Group `json:"groups"`
	// Memberships are sorted by UserID, then GroupID.
	Memberships []Membership `json:"memberships"`
	// Events are in the order the fake accepted them.
	Events []Event `json:"events"`
}

// User is a stored user.
type User struct {
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
}

// Group is a stored group (a "company" in Userflow's UI).
type Group struct {
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
}

// Membership links a user to a group, with the membership's own attributes
// (such as role).
type Membership struct {
	UserID     string         `json:"user_id"`
	GroupID    string         `json:"group_id"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
}

// Event is an event accepted by POST /events.
type Event struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	UserID     string         `json:"user_id,omitempty"`
	GroupID    string         `json:"group_id,omitempty"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
}

// store is the fake's data. It is not safe for concurrent use: Fake guards it
// with a mutex. Attribute maps and lists in it are replaced, never changed in
// place.
type store struct {
	users     map[string]*User
	groups    map[string]*Group
	members   map[string]map[string]*Membership // user id → group id → membership
	events    []Event
	nextEvent int
}

func newStore() store {
	return store{users: map[string]*User{}, groups: map[string]*Group{}, members: map[string]map[string]*Membership{}}
}

// userReq is a validated POST /users body. The groups form is normalised to
// memberships without attributes. hasList tells whether groups or memberships
// was sent at all.
type userReq struct {
	id          string
	attrs       map[string]attrOp
	memberships []memberReq
	hasList     bool
	prune       bool
}

type groupReq struct {
	id    string
	attrs map[string]attrOp
}

type memberReq struct {
	attrs map[string]attrOp
	group groupReq
}

// upsertUser creates or merges the user, its embedded groups and its
// memberships [seen], and prunes memberships not in the list when asked [doc].
// Everything is computed before anything is stored, so an error leaves the
// store unchanged. It reports whether the user was created.
func (s *store) upsertUser(req userReq, now time.Time) (created bool, err error) {
	var cur map[string]any
	if u := s.users[req.id]; u != nil {
		cur = u.Attributes
	}
	attrs, err := applyAttributes("attributes", cur, req.attrs)
	if err != nil {
		return false, err
	}
	groupAttrs := map[string]map[string]any{}  // staged, by group id
	memberAttrs := map[string]map[string]any{} // staged, by group id
	for i, m := range req.memberships {
		gid, path := m.group.id, "memberships["+strconv.Itoa(i)+"]"
		g, staged := groupAttrs[gid]
		if !staged {
			g = s.groupAttributes(gid)
		}
		if groupAttrs[gid], err = applyAttributes(path+".group.attributes", g, m.group.attrs); err != nil {
			return false, err
		}
		ma, staged := memberAttrs[gid]
		if !staged {
			if old := s.members[req.id][gid]; old != nil {
				ma = old.Attributes
			}
		}
		if memberAttrs[gid], err = applyAttributes(path+".attributes", ma, m.attrs); err != nil {
			return false, err
		}
	}

	u := s.users[req.id]
	if created = u == nil; created {
		u = &User{ID: req.id, CreatedAt: now}
		s.users[req.id] = u
	}
	u.Attributes = attrs
	for gid, ga := range groupAttrs {
		s.putGroup(gid, ga, now)
	}
	ms := s.members[req.id]
	if ms == nil {
		ms = map[string]*Membership{}
		s.members[req.id] = ms
	}
	for gid, ma := range memberAttrs {
		if ms[gid] == nil {
			ms[gid] = &Membership{UserID: req.id, GroupID: gid, CreatedAt: now}
		}
		ms[gid].Attributes = ma
	}
	if req.prune {
		maps.DeleteFunc(ms, func(gid string, _ *Membership) bool { _, keep := memberAttrs[gid]; return !keep })
	}
	return created, nil
}

// upsertGroup creates or merges a group [seen] and reports whether it was
// created.
func (s *store) upsertGroup(req groupReq, now time.Time) (created bool, err error) {
	attrs, err := applyAttributes("attributes", s.groupAttributes(req.id), req.attrs)
	if err != nil {
		return false, err
	}
	return s.putGroup(req.id, attrs, now), nil
}

func (s *store) groupAttributes(id string) map[string]any {
	if g := s.groups[id]; g != nil {
		return g.Attributes
	}
	return nil
}

func (s *store) putGroup(id string, attrs map[string]any, now time.Time) (created bool) {
	g := s.groups[id]
	if created = g == nil; created {
		g = &Group{ID: id, CreatedAt: now}
		s.groups[id] = g
	}
	g.Attributes = attrs
	return created
}

// deleteUser removes the user with its memberships and events; its groups stay
// [seen]. It reports whether the user existed.
func (s *store) deleteUser(id string) bool {
	if s.users[id] == nil {
		return false
	}
	delete(s.users, id)
	delete(s.members, id)
	s.events = slices.DeleteFunc(s.events, func(e Event) bool { return e.UserID == id })
	return true
}

// deleteGroup removes the group and the memberships to it; users stay [seen].
// It reports whether the group existed.
func (s *store) deleteGroup(id string) bool {
	if s.groups[id] == nil {
		return false
	}
	delete(s.groups, id)
	for _, ms := range s.members {
		delete(ms, id)
	}
	return true
}

func (s *store) addEvent(e Event) Event {
	s.nextEvent++
	e.ID = "evt_" + strconv.Itoa(s.nextEvent)
	s.events = append(s.events, e)
	return e
}

// memberships returns the user's memberships sorted by group id.
func (s *store) memberships(userID string) []*Membership {
	return slices.SortedFunc(maps.Values(s.members[userID]), func(a, b *Membership) int { return cmp.Compare(a.GroupID, b.GroupID) })
}

// snapshot deep-copies the store.
func (s *store) snapshot() State {
	st := State{Users: map[string]User{}, Groups: map[string]Group{}, Memberships: []Membership{}, Events: []Event{}}
	for id, u := range s.users {
		st.Users[id] = copyUser(u)
	}
	for id, g := range s.groups {
		st.Groups[id] = copyGroup(g)
	}
	for _, uid := range slices.Sorted(maps.Keys(s.members)) {
		for _, m := range s.memberships(uid) {
			st.Memberships = append(st.Memberships, copyMembership(m))
		}
	}
	for _, e := range s.events {
		e.Attributes = cloneAttributes(e.Attributes)
		st.Events = append(st.Events, e)
	}
	return st
}

func copyUser(u *User) User {
	c := *u
	c.Attributes = cloneAttributes(u.Attributes)
	return c
}

func copyGroup(g *Group) Group {
	c := *g
	c.Attributes = cloneAttributes(g.Attributes)
	return c
}

func copyMembership(m *Membership) Membership {
	c := *m
	c.Attributes = cloneAttributes(m.Attributes)
	return c
}

// Wire shapes of the objects the fake returns. The user object
// {"id","object":"user","attributes","created_at"} is [seen]; its
// "memberships" list, the list envelope and the membership object are
// [assumed], modelled on Userflow's list objects.
type (
	userJSON struct {
		ID          string         `json:"id"`
		Object      string         `json:"object"`
		Attributes  map[string]any `json:"attributes"`
		CreatedAt   string         `json:"created_at"`
		Memberships listJSON       `json:"memberships"`
	}
	groupJSON struct {
		ID         string         `json:"id"`
		Object     string         `json:"object"`
		Attributes map[string]any `json:"attributes"`
		CreatedAt  string         `json:"created_at"`
	}
	membershipJSON struct {
		Object     string         `json:"object"`
		UserID     string         `json:"user_id"`
		GroupID    string         `json:"group_id"`
		Attributes map[string]any `json:"attributes"`
		CreatedAt  string         `json:"created_at"`
		Group      groupJSON      `json:"group"`
	}
	listJSON struct {
		Object  string           `json:"object"`
		Data    []membershipJSON `json:"data"`
		HasMore bool             `json:"has_more"`
	}
	eventJSON struct {
		ID         string         `json:"id"`
		Object     string         `json:"object"`
		Name       string         `json:"name"`
		UserID     string         `json:"user_id,omitempty"`
		GroupID    string         `json:"group_id,omitempty"`
		Attributes map[string]any `json:"attributes"`
		CreatedAt  string         `json:"created_at"`
	}
	deletedJSON struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}
)

// timestamp formats times as Userflow does [assumed]: RFC 3339 in UTC.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// userView renders a user with its memberships; it deep-copies, so the result
// may be marshalled after the store's lock is released.
func (s *store) userView(u *User) userJSON {
	v := userJSON{ID: u.ID, Object: "user", Attributes: cloneAttributes(u.Attributes), CreatedAt: timestamp(u.CreatedAt),
		Memberships: listJSON{Object: "list", Data: []membershipJSON{}}}
	for _, m := range s.memberships(u.ID) {
		v.Memberships.Data = append(v.Memberships.Data, membershipJSON{Object: "group_membership", UserID: m.UserID, GroupID: m.GroupID,
			Attributes: cloneAttributes(m.Attributes), CreatedAt: timestamp(m.CreatedAt), Group: groupView(s.groups[m.GroupID])})
	}
	return v
}

func groupView(g *Group) groupJSON {
	return groupJSON{ID: g.ID, Object: "group", Attributes: cloneAttributes(g.Attributes), CreatedAt: timestamp(g.CreatedAt)}
}

func eventView(e Event) eventJSON {
	return eventJSON{ID: e.ID, Object: "event", Name: e.Name, UserID: e.UserID, GroupID: e.GroupID,
		Attributes: cloneAttributes(e.Attributes), CreatedAt: timestamp(e.CreatedAt)}
}
