package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Settings are what a scenario's userflow-sync configuration varies.
type Settings struct {
	Brokers   []string
	GroupID   string
	Topic     func(string) string // workload topic name → broker topic name
	Userflow  string              // base URL (the process's proxy)
	APIKey    string
	MaxEvents int // batch.max_events; default 200
	// SessionTimeout is kafka.session_timeout (and the rebalance timeout);
	// default 3s. Apache Kafka refuses one below its
	// group.min.session.timeout.ms, 6s by default.
	SessionTimeout time.Duration
}

// Config is the userflow-sync configuration of the chaos workload: the three
// syncs of a typical Debezium PostgreSQL setup, deletes on, a dead-letter
// topic, group timings that keep rebalances quick (a killed member is noticed
// after the 3 s session timeout; shorter ones risk evictions when the test
// machine is loaded, which would show as replays in the clean scenarios).
func Config(s Settings) string {
	if s.MaxEvents == 0 {
		s.MaxEvents = 200
	}
	if s.SessionTimeout == 0 {
		s.SessionTimeout = 3 * time.Second
	}
	q := func(v string) string { return fmt.Sprintf("%q", v) }
	brokers := make([]string, len(s.Brokers))
	for i, b := range s.Brokers {
		brokers[i] = q(b)
	}
	return fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  start_offset: earliest
  session_timeout: %v
  heartbeat_interval: 200ms
  rebalance_timeout: %v
  fetch_max_wait: 200ms
  commit_interval: 100ms
userflow:
  base_url: %s
  api_key: %s
  max_in_flight: 8
  timeout: 5s
batch: {max_events: %d, max_wait: 20ms}
retry: {initial_interval: 20ms, max_interval: 500ms}
dead_letter: {topic: %s}
metrics: {listen: ""}
shutdown: {drain_timeout: 800ms}
log: {level: info}
syncs:
  - name: users
    topic: %s
    format: debezium
    object: user
    id_column: id
    attributes:
      name: name
      version: {column: version, type: number}
    on_delete: delete
  - name: companies
    topic: %s
    format: debezium
    object: group
    id_column: id
    attributes:
      name: name
      version: {column: version, type: number}
    on_delete: delete
  - name: memberships
    topic: %s
    format: debezium
    object: user
    id_column: user_id
    memberships:
      group_id_column: company_id
      attributes:
        role: role
        version: {column: version, type: number}
`, strings.Join(brokers, ", "), q(s.GroupID), s.SessionTimeout, s.SessionTimeout, q(s.Userflow), q(s.APIKey), s.MaxEvents, q(s.Topic(TopicDLQ)),
		q(s.Topic(TopicUsers)), q(s.Topic(TopicCompanies)), q(s.Topic(TopicMemberships)))
}
