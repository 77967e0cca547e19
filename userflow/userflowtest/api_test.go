package userflowtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAuth(t *testing.T) {
	s := newServer(t, Options{})
	for _, tc := range []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"valid", nil, http.StatusNotFound}, // authorised; the user does not exist
		{"missing", delHeader("Authorization"), http.StatusUnauthorized},
		{"wrong key", setHeader("Authorization", "Bearer ak_other"), http.StatusUnauthorized},
		{"no scheme", setHeader("Authorization", testKey), http.StatusUnauthorized},
		{"basic scheme", setHeader("Authorization", "Basic "+testKey), http.StatusUnauthorized},
		{"empty token", setHeader("Authorization", "Bearer "), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*http.Request)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			r := call(t, s, http.MethodGet, "/users/u1", "", edits...)
			code := CodeNotFound
			if tc.want == http.StatusUnauthorized {
				code = CodeUnauthorized
			}
			want(t, r, tc.want, code)
		})
	}
}

func TestSetAPIKey(t *testing.T) {
	s := newServer(t, Options{})
	s.SetAPIKey("ak_rotated")
	want(t, call(t, s, http.MethodGet, "/users/u1", ""), http.StatusUnauthorized, CodeUnauthorized)
	want(t, call(t, s, http.MethodGet, "/users/u1", "", setHeader("Authorization", "Bearer ak_rotated")), http.StatusNotFound, CodeNotFound)

	s.SetAPIKey("") // revoked: nothing is accepted
	for _, auth := range []string{"Bearer ak_rotated", "Bearer " + testKey, "Bearer "} {
		want(t, call(t, s, http.MethodGet, "/users/u1", "", setHeader("Authorization", auth)), http.StatusUnauthorized, CodeUnauthorized)
	}
}

func TestVersionHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lenient bool
		edit    func(*http.Request)
		want    int
	}{
		{"current", false, nil, http.StatusCreated},
		{"missing, strict", false, delHeader("Userflow-Version"), http.StatusBadRequest},
		{"missing, lenient", true, delHeader("Userflow-Version"), http.StatusCreated},
		{"other version", false, setHeader("Userflow-Version", "2021-01-01"), http.StatusBadRequest},
		{"other version, lenient", true, setHeader("Userflow-Version", "2021-01-01"), http.StatusBadRequest},
		{"empty", false, setHeader("Userflow-Version", ""), http.StatusBadRequest},
		{"twice", false, func(r *http.Request) { r.Header.Add("Userflow-Version", APIVersion) }, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Options{Lenient: tc.lenient})
			var edits []func(*http.Request)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			r := call(t, s, http.MethodPost, "/groups", `{"id":"g1"}`, edits...)
			code := ""
			if tc.want == http.StatusBadRequest {
				code = CodeInvalidParams
			}
			want(t, r, tc.want, code)
		})
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		edit             func(*http.Request)
	}{
		{"content type missing", "/users", `{"id":"u"}`, delHeader("Content-Type")},
		{"content type text", "/users", `{"id":"u"}`, setHeader("Content-Type", "text/plain")},
		{"empty body", "/users", ``, setHeader("Content-Type", "application/json")},
		{"invalid JSON", "/users", `{"id":"u"`, nil},
		{"not an object", "/users", `["u"]`, nil},
		{"data after the object", "/users", `{"id":"u"} {}`, nil},
		{"unknown field", "/users", `{"id":"u","email":"a@b.c"}`, nil},
		{"unknown nested field", "/users", `{"id":"u","groups":[{"id":"g","name":"Acme"}]}`, nil},
		{"wrong field type", "/users", `{"id":"u","attributes":["a"]}`, nil},
		{"prune not bool", "/users", `{"id":"u","groups":[],"prune_memberships":"yes"}`, nil},
		{"id missing", "/users", `{"attributes":{"a":1}}`, nil},
		{"id null", "/users", `{"id":null}`, nil},
		{"id empty", "/users", `{"id":""}`, nil},
		{"id number", "/users", `{"id":42}`, nil},
		{"groups and memberships", "/users", `{"id":"u","groups":[],"memberships":[]}`, nil},
		{"attribute name with dot", "/users", `{"id":"u","attributes":{"a.b":1}}`, nil},
		{"attribute name empty", "/users", `{"id":"u","attributes":{"":1}}`, nil},
		{"attribute name blank", "/users", `{"id":"u","attributes":{"  ":1}}`, nil},
		{"attribute object", "/users", `{"id":"u","attributes":{"a":{"b":1}}}`, nil},
		{"attribute nested list", "/users", `{"id":"u","attributes":{"a":[[1]]}}`, nil},
		{"attribute list of objects", "/users", `{"id":"u","attributes":{"a":[{"b":1}]}}`, nil},
		{"attribute list with null", "/users", `{"id":"u","attributes":{"a":[null]}}`, nil},
		{"two operations", "/users", `{"id":"u","attributes":{"a":{"set":1,"add":2}}}`, nil},
		{"data_type only", "/users", `{"id":"u","attributes":{"a":{"data_type":"string"}}}`, nil},
		{"unknown data_type", "/users", `{"id":"u","attributes":{"a":{"set":1,"data_type":"money"}}}`, nil},
		{"unknown operation key", "/users", `{"id":"u","attributes":{"a":{"set":1,"unset":true}}}`, nil},
		{"set an object", "/users", `{"id":"u","attributes":{"a":{"set":{"b":1}}}}`, nil},
		{"add a string", "/users", `{"id":"u","attributes":{"a":{"add":"1"}}}`, nil},
		{"subtract a list", "/users", `{"id":"u","attributes":{"a":{"subtract":[1]}}}`, nil},
		{"append null", "/users", `{"id":"u","attributes":{"a":{"append":null}}}`, nil},
		{"remove an object", "/users", `{"id":"u","attributes":{"a":{"remove":{"b":1}}}}`, nil},
		{"group without id", "/users", `{"id":"u","groups":[{"attributes":{"a":1}}]}`, nil},
		{"group null", "/users", `{"id":"u","groups":[null]}`, nil},
		{"group bad attribute name", "/users", `{"id":"u","groups":[{"id":"g","attributes":{"a/b":1}}]}`, nil},
		{"membership without group", "/users", `{"id":"u","memberships":[{"attributes":{"role":"admin"}}]}`, nil},
		{"membership group without id", "/users", `{"id":"u","memberships":[{"group":{"attributes":{"a":1}}}]}`, nil},
		{"membership group empty id", "/users", `{"id":"u","memberships":[{"group":{"id":""}}]}`, nil},
		{"membership bad attribute value", "/users", `{"id":"u","memberships":[{"group":{"id":"g"},"attributes":{"role":{"x":1}}}]}`, nil},
		{"membership group bad attribute", "/users", `{"id":"u","memberships":[{"group":{"id":"g","attributes":{"a!":1}}}]}`, nil},
		{"prune without list", "/users", `{"id":"u","prune_memberships":true}`, nil},
		{"group id missing", "/groups", `{"attributes":{"a":1}}`, nil},
		{"group id number", "/groups", `{"id":7}`, nil},
		{"group unknown field", "/groups", `{"id":"g","users":[]}`, nil},
		{"group bad attribute", "/groups", `{"id":"g","attributes":{"a":{"append":[[1]]}}}`, nil},
		{"event name missing", "/events", `{"user_id":"u"}`, nil},
		{"event name empty", "/events", `{"name":""}`, nil},
		{"event user_id number", "/events", `{"name":"e","user_id":5}`, nil},
		{"event attribute operation", "/events", `{"name":"e","attributes":{"a":{"set":1}}}`, nil},
		{"event unknown field", "/events", `{"name":"e","timestamp":"2024-01-01T00:00:00Z"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Options{})
			var edits []func(*http.Request)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			r := call(t, s, http.MethodPost, tc.path, tc.body, edits...)
			want(t, r, http.StatusBadRequest, CodeInvalidParams)
			if msg := r.body["error"].(map[string]any)["message"]; msg == "" {
				t.Error("error without message")
			}
			empty := newStore()
			if diff := cmp.Diff(empty.snapshot(), s.State()); diff != "" {
				t.Errorf("state changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLenient(t *testing.T) {
	s := newServer(t, Options{Lenient: true})
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","email":"a@b.c","groups":[{"id":"g","name":"x"}]}`), http.StatusCreated, "")
	// Without a list, prune_memberships is ignored, not applied to "no groups".
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","prune_memberships":true}`), http.StatusOK, "")
	if _, ok := s.Membership("u", "g"); !ok {
		t.Error("membership pruned without a list")
	}
}

func TestUpsertMerge(t *testing.T) {
	s := newServer(t, Options{})
	r := call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"a":1,"b":"x","tags":["t1"],"n":10}}`)
	want(t, r, http.StatusCreated, "")
	if r.body["id"] != "u" || r.body["object"] != "user" || r.body["created_at"] == nil {
		t.Errorf("user object = %v", r.body)
	}

	r = call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{
		"b": "y",
		"c": null,
		"a": {"set_once": 2},
		"d": {"set_once": "first", "data_type": "string"},
		"n": {"add": 5},
		"m": {"subtract": 1.5},
		"tags": {"append": ["t2", "t3"]},
		"front": {"prepend": "p"},
		"e": {"set": ["x", 1, true], "data_type": "list"}
	}}`)
	want(t, r, http.StatusOK, "")
	call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"c":{"set_once":"now"},"d":{"set_once":"second"},"tags":{"remove":["t1","t3"]},"front":{"prepend":["q","r"]}}}`)

	wantAttrs := map[string]any{
		"a": json.Number("1"), "b": "y", "c": "now", "d": "first",
		"n": json.Number("15"), "m": json.Number("-1.5"),
		"tags": []any{"t2"}, "front": []any{"q", "r", "p"},
		"e": []any{"x", json.Number("1"), true},
	}
	u, ok := s.User("u")
	if !ok {
		t.Fatal("user missing")
	}
	if diff := cmp.Diff(wantAttrs, u.Attributes); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	var got map[string]any
	decodeJSON(t, []byte(mustJSON(t, call(t, s, http.MethodGet, "/users/u", "").body["attributes"])), &got)
	if diff := cmp.Diff(wantAttrs, got); diff != "" {
		t.Errorf("GET attributes (-want +got):\n%s", diff)
	}

	// null is stored as null [assumed].
	call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"b":null}}`)
	if u, _ := s.User("u"); u.Attributes["b"] != nil || len(u.Attributes) != len(wantAttrs) {
		t.Errorf("after null: %v", u.Attributes)
	}
}

func TestFailedRequestChangesNothing(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"s":"text"}}`), http.StatusCreated, "")
	before := s.State()
	// The new group and the user attributes come before the failing add.
	r := call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"a":1},"groups":[{"id":"new"},{"id":"g","attributes":{"s":{"add":1}}}]}`)
	want(t, r, http.StatusBadRequest, CodeInvalidParams)
	if diff := cmp.Diff(before, s.State()); diff != "" {
		t.Errorf("state changed (-before +after):\n%s", diff)
	}
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"s":{"subtract":1}}}`), http.StatusBadRequest, CodeInvalidParams)
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"f":1e308}}`), http.StatusOK, "")
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"f":{"add":1e308}}}`), http.StatusBadRequest, CodeInvalidParams)
}

func TestGroupsAndMemberships(t *testing.T) {
	s := newServer(t, Options{})
	post := func(body string, status int) {
		t.Helper()
		want(t, call(t, s, http.MethodPost, "/users", body), status, "")
	}
	post(`{"id":"u","groups":[{"id":"g1","attributes":{"name":"Acme"}}]}`, http.StatusCreated)
	post(`{"id":"u","memberships":[{"attributes":{"role":"admin"},"group":{"id":"g2","attributes":{"plan":"pro"}}}]}`, http.StatusOK)
	post(`{"id":"u","memberships":[{"attributes":{"role":"member"},"group":{"id":"g1","attributes":{"size":3}}}]}`, http.StatusOK)
	post(`{"id":"v","groups":[{"id":"g1"}]}`, http.StatusCreated)

	st := s.State()
	wantGroups := map[string]map[string]any{
		"g1": {"name": "Acme", "size": json.Number("3")},
		"g2": {"plan": "pro"},
	}
	for id, attrs := range wantGroups {
		if diff := cmp.Diff(attrs, st.Groups[id].Attributes); diff != "" {
			t.Errorf("group %s (-want +got):\n%s", id, diff)
		}
	}
	type link struct {
		User, Group string
		Attrs       map[string]any
	}
	var links []link
	for _, m := range st.Memberships {
		links = append(links, link{m.UserID, m.GroupID, m.Attributes})
	}
	wantLinks := []link{
		{"u", "g1", map[string]any{"role": "member"}},
		{"u", "g2", map[string]any{"role": "admin"}},
		{"v", "g1", map[string]any{}},
	}
	if diff := cmp.Diff(wantLinks, links); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}

	// The GET answer lists the memberships with their groups [assumed shape].
	r := call(t, s, http.MethodGet, "/users/u", "")
	want(t, r, http.StatusOK, "")
	ms := r.body["memberships"].(map[string]any)
	data := ms["data"].([]any)
	if ms["object"] != "list" || len(data) != 2 {
		t.Fatalf("memberships = %v", ms)
	}
	first := data[0].(map[string]any)
	if first["object"] != "group_membership" || first["group_id"] != "g1" || first["group"].(map[string]any)["id"] != "g1" {
		t.Errorf("first membership = %v", first)
	}
	r = call(t, s, http.MethodGet, "/groups/g1", "")
	want(t, r, http.StatusOK, "")
	if r.body["object"] != "group" || r.body["id"] != "g1" {
		t.Errorf("group object = %v", r.body)
	}
}

func TestPruneMemberships(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // the user's groups after the request
	}{
		{"off keeps others", `{"id":"u","groups":[{"id":"g3"}]}`, []string{"g1", "g2", "g3"}},
		{"explicit false", `{"id":"u","groups":[{"id":"g3"}],"prune_memberships":false}`, []string{"g1", "g2", "g3"}},
		{"groups", `{"id":"u","groups":[{"id":"g2"},{"id":"g3"}],"prune_memberships":true}`, []string{"g2", "g3"}},
		{"memberships", `{"id":"u","memberships":[{"group":{"id":"g1"}}],"prune_memberships":true}`, []string{"g1"}},
		{"empty list", `{"id":"u","groups":[],"prune_memberships":true}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Options{})
			want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","groups":[{"id":"g1"},{"id":"g2"}]}`), http.StatusCreated, "")
			want(t, call(t, s, http.MethodPost, "/users", `{"id":"other","groups":[{"id":"g1"}]}`), http.StatusCreated, "")
			want(t, call(t, s, http.MethodPost, "/users", tc.body), http.StatusOK, "")
			st := s.State()
			var got []string
			for _, m := range st.Memberships {
				if m.UserID == "u" {
					got = append(got, m.GroupID)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("groups of u (-want +got):\n%s", diff)
			}
			if _, ok := s.Membership("other", "g1"); !ok {
				t.Error("another user's membership was pruned")
			}
			for _, g := range []string{"g1", "g2"} {
				if _, ok := s.Group(g); !ok {
					t.Errorf("group %s removed by pruning", g)
				}
			}
		})
	}
}

func TestGroupUpsert(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"name":"Acme","n":1}}`), http.StatusCreated, "")
	r := call(t, s, http.MethodPost, "/groups", `{"id":"g","attributes":{"n":{"add":2}}}`)
	want(t, r, http.StatusOK, "")
	if diff := cmp.Diff(map[string]any{"name": "Acme", "n": json.Number("3")}, r.body["attributes"]); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

func TestDeleteUser(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","groups":[{"id":"g"}]}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"v","groups":[{"id":"g"}]}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodPost, "/events", `{"name":"e","user_id":"u"}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodPost, "/events", `{"name":"e","user_id":"v"}`), http.StatusCreated, "")

	r := call(t, s, http.MethodDelete, "/users/u", "")
	want(t, r, http.StatusOK, "")
	if diff := cmp.Diff(map[string]any{"id": "u", "object": "user", "deleted": true}, r.body); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	want(t, call(t, s, http.MethodGet, "/users/u", ""), http.StatusNotFound, CodeNotFound)
	want(t, call(t, s, http.MethodDelete, "/users/u", ""), http.StatusNotFound, CodeNotFound)
	st := s.State()
	if _, ok := st.Groups["g"]; !ok {
		t.Error("group removed with the user")
	}
	if len(st.Memberships) != 1 || st.Memberships[0].UserID != "v" {
		t.Errorf("memberships = %v", st.Memberships)
	}
	if len(st.Events) != 1 || st.Events[0].UserID != "v" {
		t.Errorf("events = %v", st.Events)
	}
}

func TestDeleteGroup(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","groups":[{"id":"g1"},{"id":"g2"}]}`), http.StatusCreated, "")
	r := call(t, s, http.MethodDelete, "/groups/g1", "")
	want(t, r, http.StatusOK, "")
	if diff := cmp.Diff(map[string]any{"id": "g1", "object": "group", "deleted": true}, r.body); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	want(t, call(t, s, http.MethodGet, "/groups/g1", ""), http.StatusNotFound, CodeNotFound)
	want(t, call(t, s, http.MethodDelete, "/groups/g1", ""), http.StatusNotFound, CodeNotFound)
	if _, ok := s.User("u"); !ok {
		t.Error("user removed with the group")
	}
	st := s.State()
	if len(st.Memberships) != 1 || st.Memberships[0].GroupID != "g2" {
		t.Errorf("memberships = %v", st.Memberships)
	}
}

func TestEscapedIDs(t *testing.T) {
	s := newServer(t, Options{})
	for _, id := range []string{"a/b", "with space", "100%", "ü+?#", "a%2Fb"} {
		t.Run(id, func(t *testing.T) {
			for _, coll := range []string{"users", "groups"} {
				want(t, call(t, s, http.MethodPost, "/"+coll, mustJSON(t, map[string]string{"id": id})), http.StatusCreated, "")
				path := "/" + coll + "/" + url.PathEscape(id)
				r := call(t, s, http.MethodGet, path, "")
				want(t, r, http.StatusOK, "")
				if r.body["id"] != id {
					t.Errorf("GET %s: id %v, want %q", path, r.body["id"], id)
				}
				want(t, call(t, s, http.MethodDelete, path, ""), http.StatusOK, "")
				want(t, call(t, s, http.MethodGet, path, ""), http.StatusNotFound, CodeNotFound)
			}
		})
	}
	// An unescaped '/' splits the path: no route.
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"a/b"}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodGet, "/users/a/b", ""), http.StatusNotFound, CodeNotFound)
	reqs := s.Requests()
	if got := reqs[len(reqs)-1].Path; got != "/users/a/b" {
		t.Errorf("recorded path %q", got)
	}
}

func TestEvents(t *testing.T) {
	s := newServer(t, Options{})
	r := call(t, s, http.MethodPost, "/events", `{"name":"signed_up","user_id":"u","group_id":"g","attributes":{"plan":"pro","seats":3,"tags":["a"]}}`)
	want(t, r, http.StatusCreated, "")
	if r.body["object"] != "event" || r.body["name"] != "signed_up" || r.body["id"] != "evt_1" {
		t.Errorf("answer = %v", r.body)
	}
	want(t, call(t, s, http.MethodPost, "/events", `{"name":"ping"}`), http.StatusCreated, "")
	st := s.State()
	wantEvents := []Event{
		{ID: "evt_1", Name: "signed_up", UserID: "u", GroupID: "g", Attributes: map[string]any{"plan": "pro", "seats": json.Number("3"), "tags": []any{"a"}}},
		{ID: "evt_2", Name: "ping", Attributes: map[string]any{}},
	}
	for i := range st.Events {
		st.Events[i].CreatedAt = wantEvents[i].CreatedAt
	}
	if diff := cmp.Diff(wantEvents, st.Events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if len(st.Users) != 0 || len(st.Groups) != 0 {
		t.Error("an event created a user or group")
	}
}

func TestRoutes(t *testing.T) {
	s := newServer(t, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/users/", http.StatusNotFound, ""},
		{http.MethodPost, "/events/e1", http.StatusNotFound, ""},
		{http.MethodGet, "/users/u/memberships", http.StatusNotFound, ""},
		{http.MethodGet, "/users", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/users/u", http.StatusMethodNotAllowed, "DELETE, GET"},
		{http.MethodPut, "/groups/g", http.StatusMethodNotAllowed, "DELETE, GET"},
		{http.MethodDelete, "/events", http.StatusMethodNotAllowed, "POST"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := call(t, s, tc.method, tc.path, "")
			code := CodeNotFound
			if tc.status == http.StatusMethodNotAllowed {
				code = CodeMethodNotAllowed
			}
			want(t, r, tc.status, code)
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestResponseHeaders(t *testing.T) {
	s := newServer(t, Options{})
	ids := map[string]bool{}
	for _, r := range []response{
		call(t, s, http.MethodPost, "/users", `{"id":"u"}`),
		call(t, s, http.MethodGet, "/users/u", ""),
		call(t, s, http.MethodGet, "/users/x", ""),
		call(t, s, http.MethodGet, "/nope", ""),
		call(t, s, http.MethodGet, "/users/u", "", delHeader("Authorization")),
		call(t, s, http.MethodGet, "/_admin/stats", ""),
		call(t, s, http.MethodGet, "/healthz", ""),
	} {
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		id := r.header.Get("X-Request-Id")
		if id == "" || ids[id] {
			t.Errorf("X-Request-Id %q empty or repeated", id)
		}
		ids[id] = true
	}
}

func TestRequestLog(t *testing.T) {
	s := newServer(t, Options{})
	body := `{"id":"u","attributes":{"a":1}}`
	want(t, call(t, s, http.MethodPost, "/users", body, setHeader("X-Trace", "t1")), http.StatusCreated, "")
	want(t, call(t, s, http.MethodGet, "/users/u?expand=memberships", "", setHeader("Authorization", "Bearer ak_wrong")), http.StatusUnauthorized, CodeUnauthorized)
	call(t, s, http.MethodGet, "/_admin/state", "") // not recorded

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests recorded, want 2", len(reqs))
	}
	first, second := reqs[0], reqs[1]
	if first.Method != http.MethodPost || first.Path != "/users" || string(first.Body) != body || first.Status != http.StatusCreated ||
		first.Header.Get("X-Trace") != "t1" || first.Time.IsZero() {
		t.Errorf("first = %+v", first)
	}
	if second.Query != "expand=memberships" || second.Status != http.StatusUnauthorized || second.ErrorCode != CodeUnauthorized || second.Seq <= first.Seq {
		t.Errorf("second = %+v", second)
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "[REDACTED]" {
			t.Errorf("Authorization recorded as %q", got)
		}
	}
	data := mustJSON(t, reqs)
	if strings.Contains(data, testKey) || strings.Contains(data, "ak_wrong") {
		t.Error("the request log holds a key")
	}
	if !strings.Contains(data, `"body":"{\"id\":\"u\"`) {
		t.Errorf("body not logged as a string: %s", data)
	}

	// Copies: changing the result leaves the log alone.
	reqs[0].Header.Set("Authorization", "x")
	reqs[0].Body[0] = 'X'
	if again := s.Requests()[0]; again.Header.Get("Authorization") != "[REDACTED]" || string(again.Body) != body {
		t.Error("Requests returned shared data")
	}
}

// Applied orders the requests that reached the state, and only those: a 401
// never does, a 404 does.
func TestRequestLogApplied(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u"}`), http.StatusCreated, "")
	want(t, call(t, s, http.MethodGet, "/users/u", "", setHeader("Authorization", "Bearer ak_wrong")), http.StatusUnauthorized, CodeUnauthorized)
	want(t, call(t, s, http.MethodDelete, "/users/missing", ""), http.StatusNotFound, CodeNotFound)
	want(t, call(t, s, http.MethodPost, "/groups", `{"id":"g"}`), http.StatusCreated, "")
	var got []uint64
	for _, r := range s.Requests() {
		got = append(got, r.Applied)
	}
	if !slices.Equal(got, []uint64{1, 0, 2, 3}) {
		t.Errorf("Applied = %v, want [1 0 2 3]", got)
	}
}

func TestRequestLogLimit(t *testing.T) {
	s := newServer(t, Options{RequestLogLimit: 2})
	for range 3 {
		call(t, s, http.MethodGet, "/users/u", "")
	}
	reqs := s.Requests()
	if len(reqs) != 2 || s.Stats().Requests != 3 {
		t.Fatalf("%d logged, %d counted; want 2, 3", len(reqs), s.Stats().Requests)
	}
}

func TestStateIsACopy(t *testing.T) {
	s := newServer(t, Options{})
	want(t, call(t, s, http.MethodPost, "/users", `{"id":"u","attributes":{"tags":["a"]},"groups":[{"id":"g"}]}`), http.StatusCreated, "")
	st := s.State()
	st.Users["u"].Attributes["tags"].([]any)[0] = "changed"
	st.Users["u"].Attributes["new"] = 1
	u, _ := s.User("u")
	u.Attributes["other"] = 2
	if u, _ := s.User("u"); len(u.Attributes) != 1 || u.Attributes["tags"].([]any)[0] != "a" {
		t.Errorf("stored attributes changed through a copy: %v", u.Attributes)
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without APIKey: no error")
	}
	err := Options{APIKey: "k", RequestLogLimit: -1, Faults: Faults{ErrorRate: 2, Latency: -1, RetryAfterFormat: "minutes"}}.Validate()
	for _, field := range []string{"RequestLogLimit", "error_rate", "latency", "retry_after_format"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want a %s error", err, field)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewServer with invalid options did not panic")
		}
	}()
	NewServer(Options{})
}
