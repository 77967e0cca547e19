// Package config reads userflow-sync's configuration file and builds the
// parts it describes. docs/configuration.md is the reference for users; this
// comment is the contract for callers.
//
//   - Parse (and Load, which reads a file) expands ${VAR}, ${VAR:-default}
//     and $$ in the raw text, decodes it strictly (an unknown key is an
//     error), takes userflow.api_key from USERFLOW_API_KEY when the file
//     leaves it empty, applies the defaults and validates. It returns a valid
//     *Config, or nil and every problem found, not just the first.
//   - Every problem is a *FieldError, printed "path: problem"
//     ("syncs[2].memberships.group_id_column: required"), with "line N: "
//     in front when it comes from the text (an unset variable, an unknown
//     key, a value of the wrong type). Problems flattens the error into
//     these lines. A file that is not YAML gives one error from the parser.
//   - Validate applies the defaults and reports every problem at once,
//     including the rules of the layers below (mapping.Config.Validate,
//     consumer.Config.Validate), with their paths put into this file's terms.
//     It reads the TLS files named, so that a bad file is reported too.
//   - Secrets (userflow.api_key, kafka.sasl.password) are of type Secret and
//     never printed: not by fmt, JSON, YAML, Redacted, nor in any error.
//   - ConsumerConfig and UserflowClient build the consumer's config and the
//     Userflow client from a valid Config.
package config

import (
	"math"
	"time"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// APIKeyEnv is the environment variable that supplies userflow.api_key when
// the file leaves it empty.
const APIKeyEnv = "USERFLOW_API_KEY"

// Config is the whole configuration file. Durations are written as Go
// durations ("100ms", "10s", "1m30s"). A zero value means the documented
// default, except where a field says otherwise.
type Config struct {
	Kafka    Kafka    `yaml:"kafka"`
	Userflow Userflow `yaml:"userflow"`
	Batch    Batch    `yaml:"batch"`
	// Retry shapes the backoff between attempts of a failing Userflow
	// request: initial_interval (default 200ms), max_interval (default 30s),
	// max_elapsed (default 0: retry until success, shutdown or rebalance).
	Retry      consumer.RetryConfig `yaml:"retry"`
	DeadLetter DeadLetter           `yaml:"dead_letter"`
	Metrics    Metrics              `yaml:"metrics"`
	Shutdown   Shutdown             `yaml:"shutdown"`
	Log        Log                  `yaml:"log"`
	// Syncs: one per topic. At least one.
	Syncs []Sync `yaml:"syncs"`
}

// Kafka is where the change events come from.
type Kafka struct {
	// Brokers to bootstrap from, as host:port. Required.
	Brokers []string `yaml:"brokers"`
	// GroupID is the consumer group. Required.
	GroupID string `yaml:"group_id"`
	// StartOffset is where a partition without a committed offset starts:
	// earliest or latest. Default: earliest.
	StartOffset string `yaml:"start_offset"`
	// ClientID names this client to the brokers. Default: userflow-sync.
	ClientID string `yaml:"client_id"`
	TLS      TLS    `yaml:"tls"`
	SASL     SASL   `yaml:"sasl"`
	// SessionTimeout: a member silent for this long leaves the group.
	// Default: 30s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval must stay below SessionTimeout. Default: 3s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long members get to rejoin a rebalance.
	// Default: 30s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// FetchMaxWait is how long a fetch waits for new messages; it also bounds
	// how long a stop takes on an idle topic. Default: 1s.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// CommitInterval is how often completed offsets are committed.
	// Default: 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
}

// TLS secures the connections to the brokers.
type TLS struct {
	// Enabled turns TLS on; the other fields need it. Default: false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the CAs to trust. Default: the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS; both or neither. Default: none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any server certificate; for tests only.
	// Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is checked against the brokers' certificates.
	// Default: the host of the broker dialled.
	ServerName string `yaml:"server_name"`
}

// SASL authenticates to the brokers.
type SASL struct {
	// Mechanism: plain, scram-sha-256 or scram-sha-512. Default: none, no
	// SASL. PLAIN sends the password as it is: use it with TLS.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are required with a mechanism.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// Userflow is where the users and groups go.
type Userflow struct {
	// BaseURL of the API. Default: https://api.userflow.com (the EU region
	// is https://api.eu.userflow.com).
	BaseURL string `yaml:"base_url"`
	// APIKey authenticates to Userflow. Required: when empty, Parse takes it
	// from USERFLOW_API_KEY.
	APIKey Secret `yaml:"api_key"`
	// MaxInFlight is how many requests run at once. Default: 16.
	MaxInFlight int `yaml:"max_in_flight"`
	// RateLimit caps requests per second for the process. Default: 0, no
	// cap; a 429 with a wait pauses all requests either way.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests may go at once within RateLimit.
	// Default: one second's worth, RateLimit rounded up (at least 1).
	RateBurst int `yaml:"rate_burst"`
	// Timeout bounds a whole request. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// Batch shapes the window in which events of one user or group are gathered
// and coalesced.
type Batch struct {
	// MaxEvents closes a window once this many events wait. Default: 1000.
	MaxEvents int `yaml:"max_events"`
	// MaxWait closes a window this long after it opened. Default: 100ms.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxBuffered bounds the events held between fetch and commit; fetching
	// pauses beyond it. At least MaxEvents. Default: 100 × MaxEvents.
	MaxBuffered int `yaml:"max_buffered"`
	// MaxBufferedBytes bounds the estimated memory of what is held between
	// fetch and commit (the events, and the requests they are coalesced
	// into); fetching pauses beyond it. Default: 32 MiB.
	MaxBufferedBytes int `yaml:"max_buffered_bytes"`
}

// DeadLetter says where events that cannot be applied go.
type DeadLetter struct {
	// Topic receives them, with the reason in headers. Default: none.
	Topic string `yaml:"topic"`
	// Policy, without a Topic, is skip (log, count, commit past the event)
	// or stop (stop the process, committing nothing past it). Required
	// without a Topic, not allowed with one.
	Policy string `yaml:"policy"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port to serve /metrics on; "" disables the
	// endpoint. Default (nil, or absent from the file): 127.0.0.1:9464.
	Listen *string `yaml:"listen"`
}

// Shutdown shapes a stop (and a rebalance).
type Shutdown struct {
	// DrainTimeout bounds how long in-flight work may finish before it is
	// abandoned uncommitted, to be redelivered. It must stay below
	// kafka.session_timeout and kafka.rebalance_timeout. Default: 10s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Log configures the process's logs.
type Log struct {
	// Level: debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format: json, or console for people. Default: json.
	Format string `yaml:"format"`
}

// Sync ties a topic to the mapping of its events to Userflow users or
// groups. In the file the mapping's keys (format, object, mode, id_column,
// attributes, groups, memberships, prune_memberships, on_delete,
// unavailable_value_placeholder) sit next to name and topic; see
// mapping.Config for each.
type Sync struct {
	// Name identifies the sync in logs and metrics. Required, unique.
	Name string `yaml:"name"`
	// Topic to consume. Required, unique, not the dead-letter topic.
	Topic   string         `yaml:"topic"`
	Mapping mapping.Config `yaml:",inline"`
}

// setDefaults puts the documented defaults in zero fields, the mappings'
// included (their attributes' defaults are left to mapping.New).
func (c *Config) setDefaults() {
	k := &c.Kafka
	setDefault(&k.StartOffset, "earliest")
	setDefault(&k.ClientID, buildinfo.Product)
	setDefault(&k.SessionTimeout, 30*time.Second)
	setDefault(&k.HeartbeatInterval, 3*time.Second)
	setDefault(&k.RebalanceTimeout, 30*time.Second)
	setDefault(&k.FetchMaxWait, time.Second)
	setDefault(&k.CommitInterval, time.Second)

	u := &c.Userflow
	setDefault(&u.BaseURL, userflow.DefaultBaseURL)
	setDefault(&u.MaxInFlight, 16)
	setDefault(&u.RateBurst, max(1, int(math.Ceil(u.RateLimit))))
	setDefault(&u.Timeout, userflow.DefaultTimeout)

	setDefault(&c.Batch.MaxEvents, 1000)
	setDefault(&c.Batch.MaxWait, 100*time.Millisecond)
	setDefault(&c.Batch.MaxBuffered, 100*c.Batch.MaxEvents)
	setDefault(&c.Batch.MaxBufferedBytes, 32<<20)
	setDefault(&c.Retry.InitialInterval, 200*time.Millisecond)
	setDefault(&c.Retry.MaxInterval, 30*time.Second)
	if c.Metrics.Listen == nil {
		c.Metrics.Listen = new("127.0.0.1:9464")
	}
	setDefault(&c.Shutdown.DrainTimeout, 10*time.Second)
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "json")

	for i := range c.Syncs {
		m := &c.Syncs[i].Mapping
		setDefault(&m.Format, mapping.FormatDebezium)
		setDefault(&m.Mode, mapping.ModeUpsert)
		setDefault(&m.OnDelete, mapping.OnDeleteIgnore)
		setDefault(&m.UnavailablePlaceholder, mapping.DefaultUnavailablePlaceholder)
	}
}

func setDefault[T comparable](p *T, v T) {
	if *p == *new(T) {
		*p = v
	}
}
