package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// broken.yaml gets every problem reported at once: the text's, with their
// lines, then Validate's, in the order of the file.
func TestBroken(t *testing.T) {
	_, err := Parse(readFile(t, "broken.yaml"), env(nil))
	wantProblems(t, err,
		`line 8: kafka.session_timout: unknown key`,
		`line 12: userflow.timeout: "10" is not a duration such as 100ms or 10s`,
		`line 13: batch.max_wait: "soon" is not a duration such as 100ms or 10s`,
		`line 25: syncs[0].attributes.email.colum: unknown key`,
		`line 36: syncs[2].prune_memberships: "maybe" is not true or false`,
		`kafka.brokers: required`,
		`kafka.start_offset: must be earliest or latest, not "newest"`,
		`kafka.tls.enabled: must be true for the other tls settings to apply`,
		`kafka.sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512`,
		`kafka.heartbeat_interval: must be below kafka.session_timeout (30s)`,
		`userflow.api_key: required (set it, or USERFLOW_API_KEY)`,
		`userflow.base_url: "ftp://api.userflow.com": scheme must be http or https`,
		`userflow.max_in_flight: must not be negative`,
		`batch.max_buffered: must be at least batch.max_events (1000)`,
		`retry.max_interval: must be at least retry.initial_interval (1s)`,
		`dead_letter.policy: only used without a topic`,
		`metrics.listen: "9464" is not host:port ("" disables metrics)`,
		`shutdown.drain_timeout: 1m0s must be below the session and rebalance timeouts (30s)`,
		`log.level: must be debug, info, warn or error`,
		`log.format: must be json or console`,
		`syncs[0].topic: "pg.public.users" is the dead-letter topic`,
		`syncs[0].object: must be user or group`,
		`syncs[1].name: "users" is already used by syncs[0]`,
		`syncs[1].topic: required`,
		`syncs[1].format: must be debezium, debezium-flat or json`,
		`syncs[1].memberships: only valid for object user`,
		`syncs[1].memberships.group_id_column: required`,
		`syncs[2].memberships.group_id_column: required`,
	)
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if _, ok := e.(*FieldError); !ok {
			t.Errorf("%v is a %T, not a *FieldError", e, e)
		}
	}
}

func TestValidate(t *testing.T) {
	pki := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"valid", func(*Config) {}, nil},
		{"brokers", func(c *Config) { c.Kafka.Brokers = nil }, []string{"kafka.brokers: required"}},
		{"broker address", func(c *Config) { c.Kafka.Brokers = []string{"a:1", "kafka"} },
			[]string{`kafka.brokers[1]: "kafka" is not host:port`}},
		{"group id", func(c *Config) { c.Kafka.GroupID = "" }, []string{"kafka.group_id: required"}},
		{"start offset", func(c *Config) { c.Kafka.StartOffset = "oldest" },
			[]string{`kafka.start_offset: must be earliest or latest, not "oldest"`}},
		{"tls off with settings", func(c *Config) { c.Kafka.TLS.ServerName = "kafka" },
			[]string{"kafka.tls.enabled: must be true for the other tls settings to apply"}},
		{"tls on", func(c *Config) {
			c.Kafka.TLS = TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
		}, nil},
		{"tls ca file missing", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"} },
			[]string{"kafka.tls.ca_file: open /nonexistent/ca.pem: no such file or directory"}},
		{"tls ca file not PEM", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CAFile: notPEM} },
			[]string{"kafka.tls.ca_file: no PEM certificate in " + notPEM}},
		{"tls cert without key", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CertFile: pki.certFile} },
			[]string{"kafka.tls.key_file: required with cert_file"}},
		{"tls key without cert", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, KeyFile: pki.keyFile} },
			[]string{"kafka.tls.cert_file: required with key_file"}},
		{"tls key not the cert's", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CertFile: pki.certFile, KeyFile: pki.caKeyFile} },
			[]string{"kafka.tls: client certificate: tls: private key does not match public key"}},
		{"sasl mechanism", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "u", Password: "p"} },
			[]string{"kafka.sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512"}},
		{"sasl credentials", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "scram-sha-256"} },
			[]string{"kafka.sasl.username: required with a mechanism", "kafka.sasl.password: required with a mechanism"}},
		{"sasl without mechanism", func(c *Config) { c.Kafka.SASL = SASL{Username: "u"} },
			[]string{"kafka.sasl.mechanism: required with a username or password"}},
		{"sasl scram password", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "scram-sha-512", Username: "u", Password: "p\x07"} },
			[]string{"kafka.sasl: the username or password is not valid for SCRAM (SASLprep)"}},
		{"negative durations", func(c *Config) {
			c.Kafka.FetchMaxWait, c.Kafka.CommitInterval, c.Userflow.Timeout = -1, -time.Second, -time.Minute
			c.Batch.MaxWait, c.Retry.MaxElapsed = -1, -1
		}, []string{
			"kafka.fetch_max_wait: must not be negative",
			"kafka.commit_interval: must not be negative",
			"userflow.timeout: must not be negative",
			"batch.max_wait: must not be negative",
			"retry.max_elapsed: must not be negative",
		}},
		{"heartbeat", func(c *Config) { c.Kafka.HeartbeatInterval = 30 * time.Second },
			[]string{"kafka.heartbeat_interval: must be below kafka.session_timeout (30s)"}},
		{"api key", func(c *Config) { c.Userflow.APIKey = "" },
			[]string{"userflow.api_key: required (set it, or USERFLOW_API_KEY)"}},
		{"api key with a space", func(c *Config) { c.Userflow.APIKey = "ak 1" },
			[]string{"userflow.api_key: API key contains white space or control characters"}},
		{"base url", func(c *Config) { c.Userflow.BaseURL = "https://api.userflow.com/?region=eu" },
			[]string{`userflow.base_url: "https://api.userflow.com/?region=eu": query is not allowed`}},
		{"userflow numbers", func(c *Config) { c.Userflow.MaxInFlight, c.Userflow.RateLimit, c.Userflow.RateBurst = -1, -2, -3 },
			[]string{
				"userflow.max_in_flight: must not be negative",
				"userflow.rate_limit: must not be negative",
				"userflow.rate_burst: must not be negative",
			}},
		{"batch", func(c *Config) { c.Batch.MaxEvents, c.Batch.MaxBuffered, c.Batch.MaxBufferedBytes = -1, -10, -1 },
			[]string{
				"batch.max_events: must not be negative",
				"batch.max_buffered: must be at least batch.max_events (-1)",
				"batch.max_buffered_bytes: must not be negative",
			}},
		{"retry", func(c *Config) { c.Retry.InitialInterval, c.Retry.MaxInterval = -1, -2 },
			[]string{"retry.initial_interval: must not be negative", "retry.max_interval: must be at least retry.initial_interval (-1ns)"}},
		{"no dead letter", func(c *Config) { c.DeadLetter = DeadLetter{} },
			[]string{"dead_letter: set a topic, or policy: skip or stop"}},
		{"dead letter policy", func(c *Config) { c.DeadLetter = DeadLetter{Policy: "retry"} },
			[]string{"dead_letter: set a topic, or policy: skip or stop"}},
		{"dead letter topic and policy", func(c *Config) { c.DeadLetter.Topic = "dlq" },
			[]string{"dead_letter.policy: only used without a topic"}},
		{"dead letter topic", func(c *Config) { c.DeadLetter = DeadLetter{Topic: "dlq"} }, nil},
		{"metrics off", func(c *Config) { c.Metrics.Listen = new("") }, nil},
		{"metrics listen", func(c *Config) { c.Metrics.Listen = new("localhost") },
			[]string{`metrics.listen: "localhost" is not host:port ("" disables metrics)`}},
		{"drain timeout", func(c *Config) {
			c.Shutdown.DrainTimeout = 20 * time.Second
			c.Kafka.RebalanceTimeout = 20 * time.Second
		},
			[]string{"shutdown.drain_timeout: 20s must be below the session and rebalance timeouts (20s)"}},
		{"log", func(c *Config) { c.Log = Log{Level: "trace", Format: "text"} },
			[]string{"log.level: must be debug, info, warn or error", "log.format: must be json or console"}},
		{"no syncs", func(c *Config) { c.Syncs = nil }, []string{"syncs: at least one is required"}},
		{"sync names and topics", func(c *Config) {
			s := c.Syncs[0]
			c.DeadLetter = DeadLetter{Topic: "dlq"}
			c.Syncs = []Sync{s, s, s, s, s}
			c.Syncs[1].Name, c.Syncs[1].Topic = "", ""
			c.Syncs[2].Topic = "t2"
			c.Syncs[3].Name, c.Syncs[3].Topic = "other", "dlq"
			c.Syncs[4].Name, c.Syncs[4].Topic = "other", "t4"
		}, []string{
			`syncs[1].name: required`,
			`syncs[1].topic: required`,
			`syncs[2].name: "users" is already used by syncs[0]`,
			`syncs[3].topic: "dlq" is the dead-letter topic`,
			`syncs[4].name: "other" is already used by syncs[3]`,
		}},
		{"duplicate topic", func(c *Config) {
			c.Syncs = append(c.Syncs, c.Syncs[0])
			c.Syncs[1].Name = "again"
		}, []string{`syncs[1].topic: "t" is already used by another sync`}},
		{"mapping", func(c *Config) {
			c.Syncs = append(c.Syncs, c.Syncs[0], c.Syncs[0])
			c.Syncs[1].Name, c.Syncs[1].Topic = "groups", "t1"
			c.Syncs[1].Mapping.Object, c.Syncs[1].Mapping.Groups = mapping.ObjectGroup, &mapping.GroupsConfig{GroupIDColumn: "g"}
			c.Syncs[2].Name, c.Syncs[2].Topic = "memberships", "t2"
			c.Syncs[2].Mapping.Memberships = &mapping.MembershipsConfig{
				Attributes: map[string]mapping.AttributeSpec{"role": {Column: "role", Unit: "ms"}},
			}
		}, []string{
			"syncs[1].groups: only valid for object user",
			"syncs[2].memberships.group_id_column: required",
			"syncs[2].memberships.attributes.role.unit: only valid with type datetime",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, minimal, nil)
			tc.change(c)
			wantProblems(t, c.Validate(), tc.want...)
		})
	}
}

func TestProblems(t *testing.T) {
	a, b, c := errors.New("a"), &FieldError{Path: "p", Problem: "b"}, &FieldError{Line: 3, Problem: "c"}
	wantProblems(t, nil)
	wantProblems(t, a, "a")
	wantProblems(t, errors.Join(errors.Join(a, b), nil, errors.Join(c)), "a", "p: b", "line 3: c")
}
