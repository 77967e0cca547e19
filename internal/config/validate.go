package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// FieldError is one problem of a configuration.
type FieldError struct {
	// Line is the line of the file the problem is on: known for problems of
	// the text (unset variables, unknown keys, values of the wrong type), 0
	// for Validate's.
	Line int
	// Path is the key the problem is about, spelt as in the file
	// ("syncs[2].attributes.email.column"); "" for a problem of the text
	// itself, such as an unset variable.
	Path    string
	Problem string
}

// Error returns "line N: path: problem", without the parts that are unknown.
func (e *FieldError) Error() string {
	s := e.Problem
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": " + s
	}
	return s
}

// Problems flattens an error of Parse, Load or Validate into its problems,
// one line each, in order, for printing. It returns nil for nil.
func Problems(err error) []string {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if err == nil {
			return nil
		}
		return []string{err.Error()}
	}
	var lines []string
	for _, e := range j.Unwrap() {
		lines = append(lines, Problems(e)...)
	}
	return lines
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// problems collects *FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

// addSync adds the problems of mapping.Config.Validate (or mapping.New) for
// syncs[i], their paths prefixed.
func (p *problems) addSync(i int, err error) {
	for _, e := range unjoin(err) {
		if fe, ok := e.(*mapping.FieldError); ok {
			p.add(fmt.Sprintf("syncs[%d].%s", i, fe.Path), "%s", fe.Problem)
		} else {
			p.add(fmt.Sprintf("syncs[%d]", i), "%v", e)
		}
	}
}

func nonNegative[T int | float64 | time.Duration](p *problems, path string, v T) {
	if v < 0 {
		p.add(path, "must not be negative")
	}
}

// consumerPaths maps the consumer's names for its fields to this file's
// paths; the consumer's other paths (syncs[i].topic, dead_letter...) are
// already this file's.
var consumerPaths = map[string]string{
	"brokers":       "kafka.brokers",
	"group_id":      "kafka.group_id",
	"start_offset":  "kafka.start_offset",
	"drain_timeout": "shutdown.drain_timeout",
}

// Validate applies the defaults, then reports every problem at once: nil,
// or an errors.Join of *FieldError in the order of the file. The problems of
// each sync's mapping are mapping.Config.Validate's, and the rules that tie
// sections together (topics, dead letters, drain timeout) are
// consumer.Config.Validate's, with their paths put in this file's terms.
// Validate reads the TLS files named, so that a bad one is reported too.
func (c *Config) Validate() error {
	c.setDefaults()
	var p problems

	// The mappers are stand-ins: the consumer only checks that each sync has
	// one, and the mappings' problems are reported below.
	syncs := make([]consumer.Sync, len(c.Syncs))
	for i, s := range c.Syncs {
		syncs[i] = consumer.Sync{Name: s.Name, Topic: s.Topic, Mapper: new(mapping.Mapper)}
	}
	cc := c.consumerConfig(nil, syncs)
	for _, e := range unjoin(cc.Validate()) {
		path, problem, _ := strings.Cut(e.Error(), ": ")
		if to, ok := consumerPaths[path]; ok {
			path = to
		}
		p.add(path, "%s", problem)
	}

	k := &c.Kafka
	for i, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			p.add(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	k.dialer(&p)
	nonNegative(&p, "kafka.session_timeout", k.SessionTimeout)
	nonNegative(&p, "kafka.heartbeat_interval", k.HeartbeatInterval)
	nonNegative(&p, "kafka.rebalance_timeout", k.RebalanceTimeout)
	nonNegative(&p, "kafka.fetch_max_wait", k.FetchMaxWait)
	nonNegative(&p, "kafka.commit_interval", k.CommitInterval)
	if k.HeartbeatInterval >= k.SessionTimeout {
		p.add("kafka.heartbeat_interval", "must be below kafka.session_timeout (%v)", k.SessionTimeout)
	}

	u := &c.Userflow
	// userflow.NewClient owns the rules for keys and URLs; it checks the key
	// first, so each is checked alone.
	if u.APIKey == "" {
		p.add("userflow.api_key", "required (set it, or %s)", APIKeyEnv)
	} else if _, err := userflow.NewClient("", string(u.APIKey)); err != nil {
		p.add("userflow.api_key", "%s", strings.TrimPrefix(err.Error(), "userflow: "))
	}
	if _, err := userflow.NewClient(u.BaseURL, "key"); err != nil {
		p.add("userflow.base_url", "%s", strings.TrimLeft(strings.TrimPrefix(err.Error(), "userflow: base URL"), ": "))
	}
	nonNegative(&p, "userflow.max_in_flight", u.MaxInFlight)
	nonNegative(&p, "userflow.rate_limit", u.RateLimit)
	nonNegative(&p, "userflow.rate_burst", u.RateBurst)
	nonNegative(&p, "userflow.timeout", u.Timeout)

	b := &c.Batch
	nonNegative(&p, "batch.max_events", b.MaxEvents)
	nonNegative(&p, "batch.max_wait", b.MaxWait)
	if b.MaxBuffered < b.MaxEvents {
		p.add("batch.max_buffered", "must be at least batch.max_events (%d)", b.MaxEvents)
	}
	nonNegative(&p, "batch.max_buffered_bytes", b.MaxBufferedBytes)

	r := &c.Retry
	nonNegative(&p, "retry.initial_interval", r.InitialInterval)
	nonNegative(&p, "retry.max_elapsed", r.MaxElapsed)
	if r.MaxInterval < r.InitialInterval {
		p.add("retry.max_interval", "must be at least retry.initial_interval (%v)", r.InitialInterval)
	}

	if l := *c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			p.add("metrics.listen", `%q is not host:port ("" disables metrics)`, l)
		}
	}
	nonNegative(&p, "shutdown.drain_timeout", c.Shutdown.DrainTimeout)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		p.add("log.format", "must be json or console")
	}

	names := make(map[string]int, len(c.Syncs))
	for i, s := range c.Syncs {
		switch first, used := names[s.Name]; {
		case s.Name == "":
			p.add(fmt.Sprintf("syncs[%d].name", i), "required")
		case used:
			p.add(fmt.Sprintf("syncs[%d].name", i), "%q is already used by syncs[%d]", s.Name, first)
		default:
			names[s.Name] = i
		}
		p.addSync(i, s.Mapping.Validate())
	}

	slices.SortStableFunc(p, func(a, b error) int {
		ra, rb := rank(a.(*FieldError).Path), rank(b.(*FieldError).Path)
		return slices.Compare(ra[:], rb[:])
	})
	return errors.Join(p...)
}

// sections are the top-level keys in the order of Config.
var sections = []string{"kafka", "userflow", "batch", "retry", "dead_letter", "metrics", "shutdown", "log", "syncs"}

// rank orders a path as the file reads: by section, then by sync, name and
// topic before the mapping's keys.
func rank(path string) [3]int {
	head, _, _ := strings.Cut(path, ".")
	section, _, _ := strings.Cut(head, "[")
	r := [3]int{slices.Index(sections, section), -1, 0}
	if _, err := fmt.Sscanf(head, "syncs[%d]", &r[1]); err == nil {
		switch path[len(head):] {
		case ".name":
		case ".topic":
			r[2] = 1
		default:
			r[2] = 2
		}
	}
	return r
}
