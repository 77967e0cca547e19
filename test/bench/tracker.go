package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

const apiKey = "bench-key"

// tracker wraps the fake Userflow: it counts POST /users, notes which version
// of each key has been applied, and when the final version of every key is in
// (done), and, when produce times are recorded, the produce→applied latency
// of every event (an event is applied by the first request that carries its
// version or a later one of its key).
type tracker struct {
	w    workload
	fake *userflowtest.Fake
	srv  *httptest.Server

	posts     atomic.Int64
	firstPost atomic.Int64 // UnixNano of the first POST /users

	mu        sync.Mutex
	applied   []int // highest applied version per key
	remaining int   // keys not yet at their final version
	doneAt    time.Time
	done      chan struct{}
	warm      map[string]bool
	warmDone  chan struct{}
	latencies []time.Duration

	producedAt [][]atomic.Int64 // [key][version], UnixNano; nil: no latencies
}

func newTracker(w workload, latency time.Duration, withLatencies bool) *tracker {
	fake, err := userflowtest.New(userflowtest.Options{APIKey: apiKey, RequestLogLimit: 1,
		Faults: userflowtest.Faults{Latency: latency}})
	if err != nil {
		panic(err)
	}
	t := &tracker{w: w, fake: fake, applied: make([]int, w.keys), remaining: w.keys,
		done: make(chan struct{}), warm: map[string]bool{}, warmDone: make(chan struct{})}
	if withLatencies {
		t.producedAt = make([][]atomic.Int64, w.keys)
		for k := range t.producedAt {
			t.producedAt[k] = make([]atomic.Int64, w.perKey()+1)
		}
		t.latencies = make([]time.Duration, 0, w.events)
	}
	t.srv = httptest.NewServer(http.HandlerFunc(t.serve))
	return t
}

func (t *tracker) expectWarm(ids []string) {
	for _, id := range ids {
		t.warm[id] = true
	}
}

func (t *tracker) Close() {
	t.srv.CloseClientConnections()
	t.srv.Close()
}

type userBody struct {
	ID         string `json:"id"`
	Attributes struct {
		Version json.Number `json:"version"`
	} `json:"attributes"`
}

func (t *tracker) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/users" {
		t.fake.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.posts.Add(1)
	t.firstPost.CompareAndSwap(0, time.Now().UnixNano())
	rec := &statusRecorder{ResponseWriter: w}
	t.fake.ServeHTTP(rec, r)
	if rec.status/100 != 2 {
		return
	}
	var u userBody
	if json.Unmarshal(body, &u) != nil {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.HasPrefix(u.ID, "w") {
		if t.warm[u.ID] {
			delete(t.warm, u.ID)
			if len(t.warm) == 0 {
				close(t.warmDone)
			}
		}
		return
	}
	k, err1 := strconv.Atoi(strings.TrimPrefix(u.ID, "k"))
	v, err2 := strconv.Atoi(u.Attributes.Version.String())
	if err1 != nil || err2 != nil || k < 0 || k >= t.w.keys {
		return
	}
	prev := t.applied[k]
	if v <= prev {
		return
	}
	t.applied[k] = v
	if t.producedAt != nil {
		for ver := prev + 1; ver <= v && ver < len(t.producedAt[k]); ver++ {
			if p := t.producedAt[k][ver].Load(); p != 0 {
				t.latencies = append(t.latencies, now.Sub(time.Unix(0, p)))
			}
		}
	}
	if v >= t.w.perKey() {
		t.remaining--
		if t.remaining == 0 {
			t.doneAt = now
			close(t.done)
		}
	}
}

// percentile of the recorded latencies (q in [0,1]); 0 when none.
func (t *tracker) percentile(q float64) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.latencies) == 0 {
		return 0
	}
	s := slices.Clone(t.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
