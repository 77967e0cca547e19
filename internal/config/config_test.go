package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/mapping"
)

// env is a lookupEnv over a map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// parse parses text, failing the test on any problem.
func parse(t *testing.T, text string, vars map[string]string) *Config {
	t.Helper()
	c, err := Parse([]byte(text), env(vars))
	if err != nil {
		t.Fatalf("Parse: unexpected problems:\n%s", strings.Join(Problems(err), "\n"))
	}
	return c
}

// wantProblems checks that err holds exactly the problems want, in order.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, Problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// minimal is the smallest valid configuration.
const minimal = `
kafka: {brokers: ["127.0.0.1:9092"], group_id: g}
userflow: {api_key: ak_minimal}
dead_letter: {policy: skip}
syncs:
  - {name: users, topic: t, object: user, id_column: id}
`

// defaults is minimal with every default applied.
func defaults() *Config {
	return &Config{
		Kafka: Kafka{
			Brokers: []string{"127.0.0.1:9092"}, GroupID: "g", StartOffset: "earliest", ClientID: "userflow-sync",
			SessionTimeout: 30 * time.Second, HeartbeatInterval: 3 * time.Second, RebalanceTimeout: 30 * time.Second,
			FetchMaxWait: time.Second, CommitInterval: time.Second,
		},
		Userflow: Userflow{
			BaseURL: "https://api.userflow.com", APIKey: "ak_minimal", MaxInFlight: 16, RateBurst: 1, Timeout: 10 * time.Second,
		},
		Batch:      Batch{MaxEvents: 1000, MaxWait: 100 * time.Millisecond, MaxBuffered: 100000, MaxBufferedBytes: 32 << 20},
		Retry:      consumer.RetryConfig{InitialInterval: 200 * time.Millisecond, MaxInterval: 30 * time.Second},
		DeadLetter: DeadLetter{Policy: "skip"},
		Metrics:    Metrics{Listen: new("127.0.0.1:9464")},
		Shutdown:   Shutdown{DrainTimeout: 10 * time.Second},
		Log:        Log{Level: "info", Format: "json"},
		Syncs: []Sync{{Name: "users", Topic: "t", Mapping: mapping.Config{
			Format: "debezium", Object: "user", Mode: "upsert", IDColumn: "id", OnDelete: "ignore",
			UnavailablePlaceholder: "__debezium_unavailable_value",
		}}},
	}
}

func TestDefaults(t *testing.T) {
	if diff := cmp.Diff(defaults(), parse(t, minimal, nil)); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// The defaults are the consumer's own, so that the file says what a bare
// consumer.Config does.
func TestDefaultsMatchConsumer(t *testing.T) {
	var bare consumer.Config
	_ = bare.Validate() // applies the defaults; its problems do not matter here
	got := parse(t, minimal, nil).consumerConfig(nil, nil)
	opts := cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Brokers", ".GroupID", ".NoDeadLetter":
			return true
		}
		return false
	}, cmp.Ignore())
	if diff := cmp.Diff(bare, got, opts); diff != "" {
		t.Errorf("consumer defaults (-consumer +config):\n%s", diff)
	}
}

func TestParseExample(t *testing.T) {
	c, err := Parse(readFile(t, "example.yaml"), env(map[string]string{APIKeyEnv: "ak_example"}))
	if err != nil {
		t.Fatalf("Parse: %v", Problems(err))
	}
	want := defaults()
	want.Kafka.GroupID = "userflow-sync"
	want.Userflow.APIKey = "ak_example"
	want.DeadLetter = DeadLetter{Topic: "userflow-sync-dlq"}
	base := want.Syncs[0].Mapping
	users, companies, memberships := base, base, base
	users.Attributes = map[string]mapping.AttributeSpec{
		"email":        {Column: "email"},
		"name":         {Column: "full_name"},
		"signed_up_at": {Column: "created_at", Type: mapping.TypeDatetime},
	}
	companies.Object = mapping.ObjectGroup
	companies.Attributes = map[string]mapping.AttributeSpec{"name": {Column: "name"}, "plan": {Column: "plan"}}
	memberships.IDColumn = "user_id"
	memberships.Memberships = &mapping.MembershipsConfig{
		GroupIDColumn: "company_id",
		Attributes:    map[string]mapping.AttributeSpec{"role": {Column: "role"}},
	}
	want.Syncs = []Sync{
		{Name: "users", Topic: "pg.public.users", Mapping: users},
		{Name: "companies", Topic: "pg.public.companies", Mapping: companies},
		{Name: "memberships", Topic: "pg.public.memberships", Mapping: memberships},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	t.Setenv(APIKeyEnv, "ak_load")
	c, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", Problems(err))
	}
	if c.Userflow.APIKey != "ak_load" {
		t.Errorf("api_key = %q, want the environment's", string(c.Userflow.APIKey))
	}
	if _, err := Load(filepath.Join("testdata", "absent.yaml")); !os.IsNotExist(err) {
		t.Errorf("Load of a missing file: %v, want not-exist", err)
	}
}

// full.yaml sets every key; nothing is left to a default.
func TestParseFull(t *testing.T) {
	pki := newPKI(t)
	c := parse(t, string(readFile(t, "full.yaml")), map[string]string{
		APIKeyEnv: "ak_full", "CA_FILE": pki.caFile, "CERT_FILE": pki.certFile, "KEY_FILE": pki.keyFile,
	})
	want := &Config{
		Kafka: Kafka{
			Brokers: []string{"kafka-1.internal:9093", "kafka-2.internal:9093"}, GroupID: "userflow-sync-prod",
			StartOffset: "latest", ClientID: "userflow-sync-eu",
			TLS:            TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: "kafka.internal"},
			SASL:           SASL{Mechanism: "scram-sha-512", Username: "userflow-sync", Password: "changeme"},
			SessionTimeout: 45 * time.Second, HeartbeatInterval: 5 * time.Second, RebalanceTimeout: time.Minute,
			FetchMaxWait: 500 * time.Millisecond, CommitInterval: 2 * time.Second,
		},
		Userflow: Userflow{
			BaseURL: "https://api.eu.userflow.com", APIKey: "ak_full", MaxInFlight: 32,
			RateLimit: 12.5, RateBurst: 25, Timeout: 20 * time.Second,
		},
		Batch:      Batch{MaxEvents: 500, MaxWait: 250 * time.Millisecond, MaxBuffered: 20000, MaxBufferedBytes: 64 << 20},
		Retry:      consumer.RetryConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Minute, MaxElapsed: time.Hour},
		DeadLetter: DeadLetter{Policy: "skip"},
		Metrics:    Metrics{Listen: new("")},
		Shutdown:   Shutdown{DrainTimeout: 20 * time.Second},
		Log:        Log{Level: "debug", Format: "console"},
		Syncs: []Sync{{Name: "customers", Topic: "mysql.shop.customers", Mapping: mapping.Config{
			Format: "debezium-flat", Object: "user", Mode: "update", IDColumn: "customer_id",
			Attributes: map[string]mapping.AttributeSpec{
				"email":        {Column: "email"},
				"last_seen_at": {Column: "last_seen_at", Type: "datetime", Unit: "us", Null: "send"},
			},
			Groups: &mapping.GroupsConfig{
				GroupIDColumn: "account_id",
				Attributes:    map[string]mapping.AttributeSpec{"plan": {Column: "plan"}},
			},
			PruneMemberships: true, OnDelete: "delete", UnavailablePlaceholder: "__unavailable",
		}}},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("full (-want +got):\n%s", diff)
	}
}

func TestRateBurstDefault(t *testing.T) {
	for rate, burst := range map[float64]int{0: 1, 0.5: 1, 12.5: 13, 40: 40} {
		c := parse(t, minimal, nil)
		c.Userflow.RateLimit, c.Userflow.RateBurst = rate, 0
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.Userflow.RateBurst != burst {
			t.Errorf("rate_limit %v: rate_burst = %d, want %d", rate, c.Userflow.RateBurst, burst)
		}
	}
}
