package userflowtest

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// adminPrefix reserves a path prefix that Userflow's API does not use. Admin
// routes need no API key, are not recorded, and faults do not touch them: the
// fake is for local use only.
const adminPrefix = "/_admin/"

type adminHandler func(*Fake, *http.Request) (status int, body any, err *apiError)

var adminRoutes = map[string]map[string]adminHandler{
	"state":    {http.MethodGet: func(f *Fake, _ *http.Request) (int, any, *apiError) { return http.StatusOK, f.State(), nil }},
	"requests": {http.MethodGet: func(f *Fake, _ *http.Request) (int, any, *apiError) { return http.StatusOK, f.Requests(), nil }},
	"stats":    {http.MethodGet: func(f *Fake, _ *http.Request) (int, any, *apiError) { return http.StatusOK, f.Stats(), nil }},
	"faults": {
		http.MethodGet: func(f *Fake, _ *http.Request) (int, any, *apiError) { return http.StatusOK, f.Faults(), nil },
		http.MethodPut: (*Fake).putFaults,
	},
	"reset": {http.MethodPost: func(f *Fake, _ *http.Request) (int, any, *apiError) {
		f.Reset()
		return http.StatusOK, map[string]bool{"ok": true}, nil
	}},
}

// serveAdmin serves the admin route named by the path after adminPrefix.
func (f *Fake) serveAdmin(w http.ResponseWriter, r *http.Request, route string) {
	methods, ok := adminRoutes[route]
	if !ok {
		writeError(w, &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no such admin route"})
		return
	}
	h, ok := methods[r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: r.Method + " is not allowed on " + adminPrefix + route})
		return
	}
	status, v, e := h(f, r)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, status, v)
}

// putFaults replaces the faults with the JSON body: fields left out are zero,
// unknown fields are rejected.
func (f *Fake) putFaults(r *http.Request) (int, any, *apiError) {
	var faults Faults
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&faults); err != nil {
		return 0, nil, invalidf("faults: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := f.SetFaults(faults); err != nil {
		return 0, nil, invalidf("faults: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return http.StatusOK, f.Faults(), nil
}
