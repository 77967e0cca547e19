package consumer

import (
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// Config configures a Consumer. Zero values take the documented defaults;
// New calls Validate.
type Config struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// GroupID is the Kafka consumer group. Required.
	GroupID string
	// StartOffset is where a partition without a committed offset starts:
	// "earliest" or "latest". Default: earliest.
	StartOffset string
	// Dialer carries TLS and SASL settings. Default: kafka.DefaultDialer.
	Dialer *kafka.Dialer
	// Syncs: one per topic. At least one; topics must be distinct.
	Syncs []Sync

	// MaxInFlight is how many Userflow requests run at once, across keys.
	// Default: 16.
	MaxInFlight int
	// BatchMaxEvents closes a batching window once this many events are
	// waiting. Default: 1000.
	BatchMaxEvents int
	// BatchMaxWait closes a batching window after this long. Default: 100ms.
	BatchMaxWait time.Duration
	// MaxBuffered bounds the events held between fetch and commit; fetching
	// pauses beyond it. Default: 100 × BatchMaxEvents.
	MaxBuffered int
	// MaxBufferedBytes bounds the estimated memory of what is held between
	// fetch and commit: the events' records and bookkeeping, and the
	// requests they are coalesced into (one per Userflow object, however
	// many of its events wait); fetching pauses beyond it. The estimate
	// counts live memory: with Go's default GOGC the heap may reach about
	// twice as much. Default: 32 MiB.
	MaxBufferedBytes int
	// Retry shapes retries of transient Userflow errors.
	Retry RetryConfig

	// DeadLetterTopic receives events that cannot be applied, with the
	// reason in headers. Empty: no dead-letter topic, and then
	// NoDeadLetter must say what to do.
	DeadLetterTopic string
	// NoDeadLetter is the policy for bad events when DeadLetterTopic is
	// empty: "skip" (log an error, count, commit past it) or "stop" (return
	// an error from Run, committing nothing past it). Required then.
	NoDeadLetter string

	// CommitInterval is how often completed offsets are committed.
	// Default: 1s.
	CommitInterval time.Duration
	// DrainTimeout bounds how long a rebalance or shutdown waits for
	// in-flight work before abandoning it uncommitted. It must stay below
	// SessionTimeout (no heartbeats are sent while draining, and the final
	// commit needs a live membership) and RebalanceTimeout. Default: 10s.
	DrainTimeout time.Duration

	// Group membership timings (kafka-go's defaults are tuned for large
	// clusters; these are tuned for prompt rebalances).
	HeartbeatInterval time.Duration // Default: 3s
	SessionTimeout    time.Duration // Default: 30s
	RebalanceTimeout  time.Duration // Default: 30s
	// FetchMaxWait is how long a fetch waits for new messages. It also
	// bounds how long a stop takes on an idle topic. Default: 1s.
	FetchMaxWait time.Duration
}

// Sync ties a topic to the mapping of its events.
type Sync struct {
	Name   string
	Topic  string
	Mapper *mapping.Mapper
}

// Dead-letter policies without a dead-letter topic.
const (
	PolicySkip = "skip"
	PolicyStop = "stop"
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.StartOffset == "" {
		c.StartOffset = "earliest"
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 16
	}
	if c.BatchMaxEvents <= 0 {
		c.BatchMaxEvents = 1000
	}
	def(&c.BatchMaxWait, 100*time.Millisecond)
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 100 * c.BatchMaxEvents
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 32 << 20
	}
	c.Retry.setDefaults()
	def(&c.CommitInterval, time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.HeartbeatInterval, 3*time.Second)
	def(&c.SessionTimeout, 30*time.Second)
	def(&c.RebalanceTimeout, 30*time.Second)
	def(&c.FetchMaxWait, time.Second)
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	c.setDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: required"))
	}
	if c.GroupID == "" {
		errs = append(errs, errors.New("group_id: required"))
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		errs = append(errs, fmt.Errorf("start_offset: must be earliest or latest, not %q", c.StartOffset))
	}
	if len(c.Syncs) == 0 {
		errs = append(errs, errors.New("syncs: at least one is required"))
	}
	topics := map[string]bool{}
	for i, s := range c.Syncs {
		switch {
		case s.Topic == "":
			errs = append(errs, fmt.Errorf("syncs[%d].topic: required", i))
		case topics[s.Topic]:
			errs = append(errs, fmt.Errorf("syncs[%d].topic: %q is already used by another sync", i, s.Topic))
		case s.Topic == c.DeadLetterTopic:
			errs = append(errs, fmt.Errorf("syncs[%d].topic: %q is the dead-letter topic", i, s.Topic))
		}
		topics[s.Topic] = true
		if s.Mapper == nil {
			errs = append(errs, fmt.Errorf("syncs[%d]: no mapper", i))
		}
	}
	if c.DeadLetterTopic == "" && c.NoDeadLetter != PolicySkip && c.NoDeadLetter != PolicyStop {
		errs = append(errs, errors.New("dead_letter: set a topic, or policy: skip or stop"))
	}
	if c.DeadLetterTopic != "" && c.NoDeadLetter != "" {
		errs = append(errs, errors.New("dead_letter.policy: only used without a topic"))
	}
	if limit := min(c.SessionTimeout, c.RebalanceTimeout); c.DrainTimeout >= limit {
		errs = append(errs, fmt.Errorf("drain_timeout: %v must be below the session and rebalance timeouts (%v)", c.DrainTimeout, limit))
	}
	return errors.Join(errs...)
}

func (c *Config) startOffset() int64 {
	if c.StartOffset == "latest" {
		return kafka.LastOffset
	}
	return kafka.FirstOffset
}
