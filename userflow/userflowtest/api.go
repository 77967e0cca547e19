package userflowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// handler serves one route after the checks common to all routes passed.
type handler func(*Fake, *exchange) (status int, body any, err error)

// routes maps a path pattern to its handlers by method [seen].
var routes = map[string]map[string]handler{
	"/users":       {http.MethodPost: (*Fake).postUser},
	"/users/{id}":  {http.MethodGet: (*Fake).getUser, http.MethodDelete: (*Fake).deleteUser},
	"/groups":      {http.MethodPost: (*Fake).postGroup},
	"/groups/{id}": {http.MethodGet: (*Fake).getGroup, http.MethodDelete: (*Fake).deleteGroup},
	"/events":      {http.MethodPost: (*Fake).postEvent},
}

// resolve maps an escaped path to its route pattern and the unescaped id in
// it. The id is one escaped segment, so "/users/a%2Fb" names user "a/b" and
// "/users/a/b" names nothing.
func resolve(escaped string) (pattern, id string, ok bool) {
	coll, rawID, hasID := strings.Cut(strings.TrimPrefix(escaped, "/"), "/")
	if !hasID {
		_, ok = routes["/"+coll]
		return "/" + coll, "", ok
	}
	pattern = "/" + coll + "/{id}"
	if _, known := routes[pattern]; !known || rawID == "" || strings.Contains(rawID, "/") {
		return "", "", false
	}
	id, err := url.PathUnescape(rawID)
	return pattern, id, err == nil
}

// exchange is one API request being served and its log entry.
type exchange struct {
	f    *Fake
	w    http.ResponseWriter
	r    *http.Request
	rec  Request
	done bool
	plan plan
	id   string // the id in the path, unescaped
}

// finish records the request and takes it out of flight, once, before any
// response byte is written: a client holding its response finds it in the log.
func (x *exchange) finish(status int, code, fault string) {
	if x.done {
		return
	}
	x.done = true
	x.rec.Status, x.rec.ErrorCode, x.rec.Fault = status, code, fault
	x.f.record(x.rec)
	x.f.leave()
}

func (x *exchange) respond(status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		x.fail(&apiError{status: http.StatusInternalServerError, code: CodeInternalError, message: err.Error()})
		return
	}
	x.finish(status, "", "")
	x.w.WriteHeader(status)
	_, _ = x.w.Write(append(data, '\n'))
}

func (x *exchange) fail(e *apiError) {
	x.finish(e.status, e.code, e.fault)
	writeError(x.w, e)
}

// cut closes the connection without a response: by hijacking it where the
// server allows, else by aborting the handler, which net/http turns into a
// closed connection (HTTP/1) or a reset stream (HTTP/2).
func (x *exchange) cut() {
	x.finish(0, "", FaultReset)
	if conn, _, err := http.NewResponseController(x.w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// serveAPI runs one API request through pause, faults, auth, routing, header
// and body checks, and its handler. The first check that fails answers.
func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request, seq uint64) {
	x := &exchange{f: f, w: w, r: r, rec: Request{Seq: seq, Time: f.now(), Method: r.Method,
		Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: redact(r.Header)}}
	gate := f.enter()
	defer x.finish(0, "", "") // the client went away before an answer
	body, err := io.ReadAll(r.Body)
	x.rec.Body = body
	if err != nil {
		return
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	x.plan = f.faults.decide()
	if !sleep(r.Context(), x.plan.latency) {
		return
	}
	if x.plan.reset {
		x.cut()
		return
	}
	if e := f.admit(x); e != nil {
		x.fail(e)
		return
	}
	pattern, id, ok := resolve(r.URL.EscapedPath())
	if !ok {
		x.fail(&apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no such route"})
		return
	}
	h, ok := routes[pattern][r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(routes[pattern])), ", "))
		x.fail(&apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: r.Method + " is not allowed on " + pattern})
		return
	}
	if err := f.checkHeaders(r); err != nil {
		x.fail(err)
		return
	}
	x.id = id
	status, v, err := h(f, x)
	if err != nil {
		var e *apiError
		if !errors.As(err, &e) {
			e = &apiError{status: http.StatusInternalServerError, code: CodeInternalError, message: err.Error()}
		}
		x.fail(e)
		return
	}
	x.respond(status, v)
}

// admit applies auth and the answering faults, in this order: revoked key,
// bad key, RPS limit, random 429, random 500. Rate limits count per key
// [assumed], so they come after auth.
func (f *Fake) admit(x *exchange) *apiError {
	p := x.plan
	switch {
	case p.unauthorized:
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, message: "API key revoked", fault: FaultUnauthorized}
	case !f.authorized(x.r):
		// [assumed] status and code; Userflow may answer 403.
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, message: "missing or invalid API key (want Authorization: Bearer <key>)"}
	}
	now := f.now()
	if ok, wait := f.faults.reserveRPS(now); !ok {
		setRetryAfter(x.w.Header(), p.retryAfterFormat, wait, now)
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, message: "too many requests", fault: FaultRPSLimit}
	}
	switch {
	case p.limited:
		setRetryAfter(x.w.Header(), p.retryAfterFormat, p.retryAfter, now)
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, message: "too many requests", fault: FaultRateLimit}
	case p.internal:
		return &apiError{status: http.StatusInternalServerError, code: CodeInternalError, message: "injected internal error", fault: FaultError}
	}
	return nil
}

// checkHeaders checks Userflow-Version and, for requests with a body,
// Content-Type.
func (f *Fake) checkHeaders(r *http.Request) *apiError {
	switch v := r.Header.Values("Userflow-Version"); {
	case len(v) == 0 && !f.lenient:
		// Deviation: Userflow applies its latest version [doc]; a strict
		// fake wants every request pinned.
		return invalidf("Userflow-Version header missing; send %q (strict fake)", APIVersion)
	case len(v) > 1 || len(v) == 1 && v[0] != APIVersion:
		return invalidf("Userflow-Version %q is not supported; send %q", strings.Join(v, ", "), APIVersion) // [doc] the only version
	}
	if r.Method == http.MethodPost {
		// [doc] JSON bodies; rejecting another type is [assumed].
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return invalidf("Content-Type must be application/json")
		}
	}
	return nil
}

// decode parses the body into v: one JSON value, nothing after it, and, when
// strict, no unknown fields at any level [assumed].
func (x *exchange) decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(x.rec.Body))
	if !x.f.lenient {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return invalidf("empty body; want a JSON object")
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return invalidf("body must be a JSON object, not %s", typeErr.Value)
	case errors.As(err, &typeErr):
		return invalidf("%s: wrong type (JSON %s)", typeErr.Field, typeErr.Value)
	case err != nil:
		return invalidf("invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidf("invalid JSON body: data after the object")
	}
	return nil
}

// checkIDs answers the PermanentBadIDs fault for any of ids; "" stands for
// no id.
func (x *exchange) checkIDs(ids ...string) error {
	for _, id := range ids {
		if id != "" && x.plan.badIDs[id] {
			return &apiError{status: http.StatusBadRequest, code: CodeInvalidParams, message: fmt.Sprintf("id %q is invalid", id), fault: FaultBadID}
		}
	}
	return nil
}

func notFound(object, id string) error {
	return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: fmt.Sprintf("no %s with id %q", object, id)}
}

// Request bodies. IDs are raw so that a missing, null, non-string or empty id
// each get their own message.
type (
	userBody struct {
		ID               json.RawMessage            `json:"id"`
		Attributes       map[string]json.RawMessage `json:"attributes"`
		Groups           *[]groupBody               `json:"groups"`
		Memberships      *[]memberBody              `json:"memberships"`
		PruneMemberships bool                       `json:"prune_memberships"`
	}
	groupBody struct {
		ID         json.RawMessage            `json:"id"`
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	memberBody struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
		Group      *groupBody                 `json:"group"`
	}
	eventBody struct {
		Name       json.RawMessage            `json:"name"`
		UserID     string                     `json:"user_id"`
		GroupID    string                     `json:"group_id"`
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
)

// requiredString parses a required, non-empty string field.
func requiredString(path string, raw json.RawMessage) (string, error) {
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", invalidf("%s: required", path)
	case json.Unmarshal(raw, &s) != nil:
		return "", invalidf("%s: must be a string", path)
	case s == "":
		return "", invalidf("%s: must not be empty", path)
	}
	return s, nil
}

func (b *groupBody) parse(path string) (groupReq, error) {
	id, err := requiredString(path+"id", b.ID)
	if err != nil {
		return groupReq{}, err
	}
	attrs, err := parseAttributes(path+"attributes", b.Attributes, true)
	return groupReq{id: id, attrs: attrs}, err
}

// parse validates a POST /users body [seen]: at most one of groups and
// memberships; every embedded group needs an id. prune_memberships without a
// list is rejected when strict [assumed] and ignored when lenient.
func (b *userBody) parse(lenient bool) (userReq, error) {
	id, err := requiredString("id", b.ID)
	if err != nil {
		return userReq{}, err
	}
	req := userReq{id: id, hasList: b.Groups != nil || b.Memberships != nil}
	if req.attrs, err = parseAttributes("attributes", b.Attributes, true); err != nil {
		return userReq{}, err
	}
	switch {
	case b.Groups != nil && b.Memberships != nil:
		return userReq{}, invalidf("groups, memberships: at most one may be set")
	case b.Groups != nil:
		for i, g := range *b.Groups {
			gr, err := g.parse(fmt.Sprintf("groups[%d].", i))
			if err != nil {
				return userReq{}, err
			}
			req.memberships = append(req.memberships, memberReq{group: gr})
		}
	case b.Memberships != nil:
		for i, m := range *b.Memberships {
			path := fmt.Sprintf("memberships[%d].", i)
			if m.Group == nil {
				return userReq{}, invalidf("%sgroup: required", path)
			}
			gr, err := m.Group.parse(path + "group.")
			if err != nil {
				return userReq{}, err
			}
			attrs, err := parseAttributes(path+"attributes", m.Attributes, true)
			if err != nil {
				return userReq{}, err
			}
			req.memberships = append(req.memberships, memberReq{attrs: attrs, group: gr})
		}
	}
	if b.PruneMemberships && !req.hasList && !lenient {
		return userReq{}, invalidf("prune_memberships: needs a groups or memberships list (strict fake)")
	}
	req.prune = b.PruneMemberships && req.hasList
	return req, nil
}

func (f *Fake) postUser(x *exchange) (int, any, error) {
	var b userBody
	if err := x.decode(&b); err != nil {
		return 0, nil, err
	}
	req, err := b.parse(f.lenient)
	if err != nil {
		return 0, nil, err
	}
	ids := []string{req.id}
	for _, m := range req.memberships {
		ids = append(ids, m.group.id)
	}
	if err := x.checkIDs(ids...); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	created, err := f.st.upsertUser(req, f.now())
	if err != nil {
		return 0, nil, err
	}
	return createdStatus(created), f.st.userView(f.st.users[req.id]), nil
}

func (f *Fake) getUser(x *exchange) (int, any, error) {
	if err := x.checkIDs(x.id); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	u := f.st.users[x.id]
	if u == nil {
		return 0, nil, notFound("user", x.id)
	}
	return http.StatusOK, f.st.userView(u), nil
}

func (f *Fake) deleteUser(x *exchange) (int, any, error) {
	if err := x.checkIDs(x.id); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	if !f.st.deleteUser(x.id) {
		return 0, nil, notFound("user", x.id)
	}
	return http.StatusOK, deletedJSON{ID: x.id, Object: "user", Deleted: true}, nil
}

func (f *Fake) postGroup(x *exchange) (int, any, error) {
	var b groupBody
	if err := x.decode(&b); err != nil {
		return 0, nil, err
	}
	req, err := b.parse("")
	if err != nil {
		return 0, nil, err
	}
	if err := x.checkIDs(req.id); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	created, err := f.st.upsertGroup(req, f.now())
	if err != nil {
		return 0, nil, err
	}
	return createdStatus(created), groupView(f.st.groups[req.id]), nil
}

func (f *Fake) getGroup(x *exchange) (int, any, error) {
	if err := x.checkIDs(x.id); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	g := f.st.groups[x.id]
	if g == nil {
		return 0, nil, notFound("group", x.id)
	}
	return http.StatusOK, groupView(g), nil
}

func (f *Fake) deleteGroup(x *exchange) (int, any, error) {
	if err := x.checkIDs(x.id); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	if !f.st.deleteGroup(x.id) {
		return 0, nil, notFound("group", x.id)
	}
	return http.StatusOK, deletedJSON{ID: x.id, Object: "group", Deleted: true}, nil
}

// postEvent records an event [seen]. Only name is required; user_id and
// group_id need not name stored objects, and attributes must be literals
// [assumed].
func (f *Fake) postEvent(x *exchange) (int, any, error) {
	var b eventBody
	if err := x.decode(&b); err != nil {
		return 0, nil, err
	}
	name, err := requiredString("name", b.Name)
	if err != nil {
		return 0, nil, err
	}
	ops, err := parseAttributes("attributes", b.Attributes, false)
	if err != nil {
		return 0, nil, err
	}
	attrs, err := applyAttributes("attributes", nil, ops)
	if err != nil {
		return 0, nil, err
	}
	if err := x.checkIDs(b.UserID, b.GroupID); err != nil {
		return 0, nil, err
	}
	f.lockState(x)
	defer f.mu.Unlock()
	e := f.st.addEvent(Event{Name: name, UserID: b.UserID, GroupID: b.GroupID, Attributes: attrs, CreatedAt: f.now()})
	return http.StatusCreated, eventView(e), nil
}

// lockState takes the state lock for x's handler and stamps x's record with
// the order in which the fake touched its state (Request.Applied).
func (f *Fake) lockState(x *exchange) {
	f.mu.Lock()
	f.applied++
	x.rec.Applied = f.applied
}

// createdStatus is 201 for a created object and 200 for an updated one
// [assumed].
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}
