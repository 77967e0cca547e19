package deploy_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads the repository's compose files with compose-go, the
// loader of Docker Compose itself (interpolation, merging, validation against
// the compose schema), with env as the only environment.
func loadCompose(t *testing.T, env []string, files ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(root), cli.WithEnv(env), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return opts.LoadProject(ctx)
}

func mustLoadCompose(t *testing.T, env []string, files ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, env, files...)
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("no service %q", name)
	}
	return s
}

// envOf is a service's environment as compose resolved it.
func envOf(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}

// mountedConfig is the host file a service mounts where its command's
// --config points.
func mountedConfig(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	i := slices.Index(s.Command, "--config")
	if i < 0 || i+1 >= len(s.Command) {
		t.Fatalf("%s: command %q has no --config", s.Name, s.Command)
	}
	for _, v := range s.Volumes {
		if v.Target == s.Command[i+1] {
			if v.Type != types.VolumeTypeBind || !v.ReadOnly {
				t.Errorf("%s: %s should be a read-only bind mount", s.Name, v.Target)
			}
			return v.Source
		}
	}
	t.Fatalf("%s: nothing mounted at %s", s.Name, s.Command[i+1])
	return ""
}

func TestCompose(t *testing.T) {
	p := mustLoadCompose(t, nil, "docker-compose.yml")

	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"connect", "connector-registration", "kafka", "kafka-topics", "postgres", "userflow-fake", "userflow-sync"}
	if !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}

	t.Run("healthchecks", func(t *testing.T) {
		for _, n := range []string{"kafka", "postgres", "connect", "userflow-fake", "userflow-sync"} {
			hc := service(t, p, n).HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) < 2 {
				t.Errorf("%s: no healthcheck: %+v", n, hc)
			}
		}
		// The distroless images have no curl: they check themselves.
		for n, url := range map[string]string{"userflow-sync": "http://127.0.0.1:9464/healthz", "userflow-fake": "http://127.0.0.1:8080/healthz"} {
			test := service(t, p, n).HealthCheck.Test
			if !slices.Equal(test, []string{"CMD", "/usr/local/bin/userflow-sync", "healthcheck", "--url", url}) {
				t.Errorf("%s: healthcheck %q", n, test)
			}
		}
	})

	t.Run("start order", func(t *testing.T) {
		wantDeps := map[string]map[string]string{
			"kafka-topics":           {"kafka": types.ServiceConditionHealthy},
			"connect":                {"kafka-topics": types.ServiceConditionCompletedSuccessfully, "postgres": types.ServiceConditionHealthy},
			"connector-registration": {"connect": types.ServiceConditionHealthy},
			"userflow-sync": {
				"kafka-topics":           types.ServiceConditionCompletedSuccessfully,
				"connector-registration": types.ServiceConditionCompletedSuccessfully,
				"userflow-fake":          types.ServiceConditionHealthy,
			},
		}
		for n, deps := range wantDeps {
			got := map[string]string{}
			for d, c := range service(t, p, n).DependsOn {
				got[d] = c.Condition
			}
			if !maps.Equal(got, deps) {
				t.Errorf("%s depends on %v, want %v", n, got, deps)
			}
		}
		// A service waited for as healthy has a healthcheck.
		for _, s := range p.Services {
			for d, c := range s.DependsOn {
				if c.Condition == types.ServiceConditionHealthy && p.Services[d].HealthCheck == nil {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", s.Name, d)
				}
			}
		}
	})

	t.Run("userflow-sync scales", func(t *testing.T) {
		s := service(t, p, "userflow-sync")
		if s.ContainerName != "" {
			t.Errorf("container_name %q: --scale needs none", s.ContainerName)
		}
		for _, port := range s.Ports {
			if port.Published != "" {
				t.Errorf("host port %s: --scale needs none", port.Published)
			}
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" || s.Build.Target != "userflow-sync" {
			t.Errorf("build %+v: want deploy/Dockerfile, target userflow-sync", s.Build)
		}
		if f := service(t, p, "userflow-fake").Build; f == nil || f.Dockerfile != "deploy/Dockerfile" || f.Target != "userflow-fake" {
			t.Errorf("userflow-fake build %+v: want deploy/Dockerfile, target userflow-fake", f)
		}
	})

	t.Run("mounted config validates", func(t *testing.T) {
		s := service(t, p, "userflow-sync")
		env := envOf(s)
		if env["USERFLOW_API_KEY"] == "" {
			t.Fatal("userflow-sync has no USERFLOW_API_KEY")
		}
		if fake := envOf(service(t, p, "userflow-fake"))["USERFLOW_API_KEY"]; fake != env["USERFLOW_API_KEY"] {
			t.Errorf("the fake accepts %q, userflow-sync sends %q", fake, env["USERFLOW_API_KEY"])
		}
		path := mountedConfig(t, s)
		validate(t, path, env)

		c := parseSyncConfig(t, readFile(t, path))
		if c.Metrics.Listen != "0.0.0.0:9464" {
			t.Errorf("metrics.listen %q: in a container it must be 0.0.0.0:9464", c.Metrics.Listen)
		}
		if !slices.Equal(c.Kafka.Brokers, []string{"kafka:9092"}) {
			t.Errorf("kafka.brokers %v, want [kafka:9092] (the kafka service's PLAINTEXT listener)", c.Kafka.Brokers)
		}
		if !strings.Contains(c.Userflow.BaseURL, "http://userflow-fake:8080") {
			t.Errorf("userflow.base_url %q does not default to the fake", c.Userflow.BaseURL)
		}
		if g := s.StopGracePeriod; g == nil || time.Duration(*g) <= c.drainTimeout(t) {
			t.Errorf("stop_grace_period %v must exceed shutdown.drain_timeout %v", g, c.drainTimeout(t))
		}
		// The topics exist before anything reads or writes them.
		script := string(readFile(t, "compose/kafka/create-topics.sh"))
		for _, s := range c.Syncs {
			if !strings.Contains(script, s.Topic) {
				t.Errorf("create-topics.sh does not create %s", s.Topic)
			}
		}
		if !strings.Contains(script, c.DeadLetter.Topic) {
			t.Errorf("create-topics.sh does not create the dead-letter topic %s", c.DeadLetter.Topic)
		}
	})

	t.Run("bind mounts exist", func(t *testing.T) {
		for _, s := range p.Services {
			for _, v := range s.Volumes {
				if v.Type != types.VolumeTypeBind {
					continue
				}
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", s.Name, v.Source, err)
				}
			}
		}
	})
}

// TestComposeRealUserflow: the override points userflow-sync at the real API
// with the caller's key, which the fake never sees, and refuses to start without one.
func TestComposeRealUserflow(t *testing.T) {
	files := []string{"docker-compose.yml", "docker-compose.override.real-userflow.yml"}
	if _, err := loadCompose(t, nil, files...); err == nil || !strings.Contains(err.Error(), "USERFLOW_API_KEY") {
		t.Errorf("without USERFLOW_API_KEY: %v, want an error naming it", err)
	}
	const key = "ak_real_key_for_the_test"
	p := mustLoadCompose(t, []string{"USERFLOW_API_KEY=" + key}, files...)
	s := service(t, p, "userflow-sync")
	env := envOf(s)
	if env["USERFLOW_API_KEY"] != key || env["USERFLOW_BASE_URL"] != "https://api.userflow.com" {
		t.Errorf("userflow-sync environment %v", env)
	}
	if _, ok := s.DependsOn["userflow-fake"]; ok {
		t.Error("userflow-sync still waits for the fake")
	}
	if len(s.DependsOn) == 0 {
		t.Error("userflow-sync waits for nothing")
	}
	if envOf(service(t, p, "userflow-fake"))["USERFLOW_API_KEY"] == key {
		t.Error("the real key reaches the fake")
	}
	validate(t, mountedConfig(t, s), env)
}

// connector is deploy/compose/debezium/connector.json, Kafka Connect's
// POST /connectors body.
type connector struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

// TestDebeziumConnector: the registration is valid JSON for Kafka Connect,
// captures exactly the tables whose topics the compose config syncs, in the
// format the config reads, through the publication and tables init.sql creates.
func TestDebeziumConnector(t *testing.T) {
	var c connector
	dec := json.NewDecoder(strings.NewReader(string(readFile(t, "compose/debezium/connector.json"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("connector.json: %v", err)
	}
	cfg := c.Config
	for k, want := range map[string]string{
		"connector.class":                "io.debezium.connector.postgresql.PostgresConnector",
		"plugin.name":                    "pgoutput",
		"database.hostname":              "postgres",
		"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"publication.autocreate.mode":    "disabled",
		"value.converter.schemas.enable": "true",
	} {
		if cfg[k] != want {
			t.Errorf("%s = %q, want %q", k, cfg[k], want)
		}
	}
	if !strings.Contains(string(readFile(t, "compose/debezium/register.sh")), `NAME="`+c.Name+`"`) {
		t.Errorf("register.sh does not wait for connector %q", c.Name)
	}

	sc := parseSyncConfig(t, readFile(t, "compose/userflow-sync.yaml"))
	prefix := cfg["topic.prefix"] + "."
	var synced []string
	for _, s := range sc.Syncs {
		table, ok := strings.CutPrefix(s.Topic, prefix)
		if !ok || strings.Count(table, ".") != 1 {
			t.Errorf("sync %s reads %s, not a topic of the connector (%s<schema>.<table>)", s.Name, s.Topic, prefix)
		}
		synced = append(synced, table)
		// No ExtractNewRecordState transform: full envelopes.
		if s.Format != "debezium" {
			t.Errorf("sync %s: format %q, but the connector sends Debezium envelopes", s.Name, s.Format)
		}
	}
	if _, ok := cfg["transforms"]; ok {
		t.Error("the connector has transforms; the config reads full Debezium envelopes")
	}
	included := strings.Split(cfg["table.include.list"], ",")
	sort.Strings(included)
	sort.Strings(synced)
	if !slices.Equal(included, synced) {
		t.Errorf("table.include.list %v, the config syncs %v", included, synced)
	}

	sql := string(readFile(t, "compose/postgres/init.sql"))
	pub := regexp.MustCompile(`CREATE PUBLICATION (\w+) FOR TABLE ([^;]+);`).FindStringSubmatch(sql)
	if pub == nil || pub[1] != cfg["publication.name"] {
		t.Fatalf("init.sql creates no publication %q: %v", cfg["publication.name"], pub)
	}
	var published []string
	for _, tbl := range strings.Split(pub[2], ",") {
		published = append(published, strings.TrimSpace(tbl))
	}
	sort.Strings(published)
	if !slices.Equal(published, synced) {
		t.Errorf("publication %s has %v, the config syncs %v", pub[1], published, synced)
	}
	for _, table := range synced {
		_, name, _ := strings.Cut(table, ".")
		if !strings.Contains(sql, "CREATE TABLE "+name+" (") {
			t.Errorf("init.sql creates no table %s", name)
		}
	}
}
