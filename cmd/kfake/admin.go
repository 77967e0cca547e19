package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The admin surface: a small HTTP API, off by default, through which a test
// running in another process injects broker-side faults into the cluster.
// It has no authentication: bind it to 127.0.0.1.
//
// Every answer is JSON. Bad input answers 400 with {"error": "..."} naming
// the field; a known path with the wrong method answers 405 with an Allow
// header; an unknown path answers 404.

// maxBodyBytes bounds a request body; every valid body is far smaller.
const maxBodyBytes = 64 << 10

// shutdownTimeout bounds how long serveAdmin waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// errDropped is what a /drop control returns: kfake closes the connection of
// a request whose control function returns an error.
var errDropped = errors.New("kfake admin: connection dropped on purpose")

// apiKeys maps request names as kmsg spells them (Fetch, OffsetCommit...) to
// their keys; errorsByName maps Kafka error names (REBALANCE_IN_PROGRESS...)
// to the errors. Both are looked up case-insensitively, by their lower case.
var (
	apiKeys      = map[string]kmsg.Key{}
	errorsByName = map[string]*kerr.Error{}
)

func init() {
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		if name := kmsg.NameForKey(k); name != "" && name != "Unknown" {
			apiKeys[strings.ToLower(name)] = kmsg.Key(k)
		}
	}
	// kerr has no list of its errors; unknown codes answer
	// UNKNOWN_SERVER_ERROR, which lands on the same name.
	for code := int16(-1); code < math.MaxInt16; code++ {
		if e := kerr.TypedErrorForCode(code); e != nil {
			errorsByName[strings.ToLower(e.Message)] = e
		}
	}
}

// admin serves the control surface of one cluster. It remembers what it
// installed, so that DELETE removes exactly that and nothing a caller in the
// same process installed directly on the cluster.
type admin struct {
	c *kfake.Cluster

	mu     sync.Mutex
	faults []*kfake.FaultHandle
	drops  []*drop
}

// drop is one armed /drop. Its control function runs on the cluster's
// goroutine while the HTTP handlers may cancel it, hence the atomics.
type drop struct {
	left      atomic.Int64 // requests still to drop; ignored when unlimited
	unlimited bool
	cancelled atomic.Bool
}

// newAdminHandler returns the admin surface of c. Its handlers call into the
// cluster, which blocks forever once c is closed: stop serving the handler
// before closing c.
func newAdminHandler(c *kfake.Cluster) http.Handler {
	a := &admin{c: c}
	mux := http.NewServeMux()
	route := func(path string, methods map[string]http.HandlerFunc) {
		allow := make([]string, 0, len(methods))
		for m, h := range methods {
			mux.HandleFunc(m+" "+path, h)
			allow = append(allow, m)
		}
		// The patterns with a method are more specific and win; this
		// one answers every other method of the path.
		allowed := strings.Join(allow, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allowed)})
		})
	}
	route("/faults", map[string]http.HandlerFunc{http.MethodPost: a.addFault, http.MethodDelete: a.clearFaults})
	route("/drop", map[string]http.HandlerFunc{http.MethodPost: a.addDrop, http.MethodDelete: a.clearDrops})
	route("/shuffle-leaders", map[string]http.HandlerFunc{http.MethodPost: a.shuffleLeaders})
	route("/move", map[string]http.HandlerFunc{http.MethodPost: a.move})
	route("/groups/{group}", map[string]http.HandlerFunc{http.MethodGet: a.group})
	route("/healthz", map[string]http.HandlerFunc{http.MethodGet: healthz})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{fmt.Sprintf("no such path %q", r.URL.Path)})
	})
	return mux
}

// serveAdmin serves h on ln until ctx is done, then shuts the server down,
// waiting up to shutdownTimeout for requests in flight. It returns nil after a
// clean stop, and the error when the server fails before ctx is done.
func serveAdmin(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("admin server shutdown: %w", err)
	}
	<-served // http.ErrServerClosed, returned as soon as Shutdown starts
	return err
}

// faultRequest is the body of POST /faults.
type faultRequest struct {
	API   string `json:"api"`   // kmsg request name: OffsetCommit, Fetch...
	Error string `json:"error"` // Kafka error name: REBALANCE_IN_PROGRESS...
	Count int    `json:"count"` // as kfake.Fault.Count: 0 means one, -1 until DELETE /faults
	Group string `json:"group"` // optional: only requests for this group
	Topic string `json:"topic"` // optional: only requests for this topic
}

// addFault installs a kfake.Fault: the next Count requests of API that match
// Group and Topic are answered with Error instead of being served.
func (a *admin) addFault(w http.ResponseWriter, r *http.Request) {
	var req faultRequest
	if !decode(w, r, &req) {
		return
	}
	var problems []error
	key, err := lookupAPI(req.API)
	problems = append(problems, err)
	kerrErr, err := lookupError(req.Error)
	problems = append(problems, err)
	problems = append(problems, checkCount(req.Count))
	if badRequest(w, problems...) {
		return
	}
	h := a.c.Fault(kfake.Fault{Keys: []kmsg.Key{key}, Err: kerrErr, Count: req.Count, Group: req.Group, Topic: req.Topic})
	a.mu.Lock()
	a.faults = append(a.faults, h)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"installed": true})
}

// clearFaults removes every fault installed through addFault that is still
// there, and answers how many POSTs it undid.
func (a *admin) clearFaults(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	hs := a.faults
	a.faults = nil
	a.mu.Unlock()
	for _, h := range hs {
		h.Remove()
	}
	writeJSON(w, http.StatusOK, map[string]int{"removed": len(hs)})
}

// dropRequest is the body of POST /drop.
type dropRequest struct {
	API   string `json:"api"`
	Count int    `json:"count"` // 0 means one, -1 until DELETE /drop
}

// addDrop arms a control on API: the cluster closes the client's connection
// instead of answering the next Count requests of that API.
func (a *admin) addDrop(w http.ResponseWriter, r *http.Request) {
	var req dropRequest
	if !decode(w, r, &req) {
		return
	}
	key, err := lookupAPI(req.API)
	if badRequest(w, err, checkCount(req.Count)) {
		return
	}
	d := &drop{unlimited: req.Count == -1}
	d.left.Store(int64(max(req.Count, 1)))
	c := a.c
	// The control runs for one request at a time. kfake's KeepControl is
	// sticky (it holds for every later request), so the last drop has to
	// remove the control with DropControl, which takes precedence.
	c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		if d.cancelled.Load() {
			c.DropControl()
			return nil, nil, false // served as usual
		}
		c.KeepControl()
		if !d.unlimited && d.left.Add(-1) <= 0 {
			c.DropControl()
		}
		return nil, errDropped, true
	})
	a.mu.Lock()
	a.drops = append(a.drops, d)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"armed": true})
}

// clearDrops disarms every drop armed through addDrop: the requests that
// reach the cluster from now on are served.
func (a *admin) clearDrops(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	ds := a.drops
	a.drops = nil
	a.mu.Unlock()
	for _, d := range ds {
		d.cancelled.Store(true)
	}
	writeJSON(w, http.StatusOK, map[string]int{"disarmed": len(ds)})
}

// shuffleLeaders gives every partition a random leader (and a new leader
// epoch); with one broker only the epochs change.
func (a *admin) shuffleLeaders(w http.ResponseWriter, _ *http.Request) {
	a.c.ShufflePartitionLeaders()
	writeJSON(w, http.StatusOK, map[string]bool{"shuffled": true})
}

// moveRequest is the body of POST /move. Partition and Node are pointers so
// that a missing one is told apart from 0, a valid value for both.
type moveRequest struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition"`
	Node      *int32 `json:"node"`
}

// move makes Node the leader of Topic's Partition.
func (a *admin) move(w http.ResponseWriter, r *http.Request) {
	var req moveRequest
	if !decode(w, r, &req) {
		return
	}
	var problems []error
	if req.Topic == "" {
		problems = append(problems, errors.New("topic: missing"))
	}
	if req.Partition == nil {
		problems = append(problems, errors.New("partition: missing"))
	} else if *req.Partition < 0 {
		problems = append(problems, fmt.Errorf("partition: %d is negative", *req.Partition))
	}
	if req.Node == nil {
		problems = append(problems, errors.New("node: missing"))
	}
	if badRequest(w, problems...) {
		return
	}
	if err := a.c.MoveTopicPartition(req.Topic, *req.Partition, *req.Node); err != nil {
		// kfake's words name the field: "node 7 not found" or
		// "topic/partition not found".
		badRequest(w, fmt.Errorf("move: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"moved": true})
}

// groupSummary is the answer of GET /groups/{group}.
type groupSummary struct {
	Group      string `json:"group"`
	State      string `json:"state"`      // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead...
	Generation int32  `json:"generation"` // the group epoch for a KIP-848 group
	Members    int    `json:"members"`
}

// group answers a summary of the group, or 404 if the cluster does not know it.
func (a *admin) group(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	info := a.c.GroupInfo(name)
	if info == nil {
		writeJSON(w, http.StatusNotFound, errorBody{fmt.Sprintf("group %q not found", name)})
		return
	}
	writeJSON(w, http.StatusOK, groupSummary{Group: info.Group, State: info.State, Generation: info.Epoch, Members: len(info.Members)})
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// checkCount validates the count of /faults and /drop: -1 (until cleared),
// 0 (one) or more.
func checkCount(n int) error {
	if n < -1 {
		return fmt.Errorf("count: %d; want -1 (until cleared), 0 (one) or more", n)
	}
	return nil
}

func lookupAPI(name string) (kmsg.Key, error) {
	if name == "" {
		return 0, errors.New("api: missing; want a request name such as OffsetCommit or Fetch")
	}
	k, ok := apiKeys[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("api: unknown request %q; want a request name such as OffsetCommit or Fetch", name)
	}
	return k, nil
}

func lookupError(name string) (*kerr.Error, error) {
	if name == "" {
		return nil, errors.New("error: missing; want a Kafka error name such as REBALANCE_IN_PROGRESS")
	}
	e, ok := errorsByName[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("error: unknown Kafka error %q; want a name such as REBALANCE_IN_PROGRESS", name)
	}
	return e, nil
}

type errorBody struct {
	Error string `json:"error"`
}

// decode reads r's JSON body into v, refusing unknown fields and trailing
// data. On failure it answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err != nil {
		// encoding/json names the field in its errors: `json: unknown
		// field "cout"`, `... Go struct field faultRequest.count of type int`.
		badRequest(w, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}

// badRequest answers 400 with every non-nil problem, and reports whether it
// did.
func badRequest(w http.ResponseWriter, problems ...error) bool {
	var msgs []string
	for _, p := range problems {
		if p != nil {
			msgs = append(msgs, p.Error())
		}
	}
	if len(msgs) == 0 {
		return false
	}
	writeJSON(w, http.StatusBadRequest, errorBody{strings.Join(msgs, "; ")})
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
