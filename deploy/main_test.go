package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The flags of deploy/Dockerfile's build; TestDockerfileBuildFlags keeps the
// two in step, and TestMain builds with them, so a build that would fail in
// the image fails here.
const (
	versionVar = "github.com/userflow-sync/userflow-sync/internal/buildinfo.Version"
	ldflags    = "-s -w -X " + versionVar + "=${VERSION}"
	// testVersion stands in for the VERSION build argument.
	testVersion = "v0.0.0-deploy-test"
)

// syncBinary and fakeBinary are built once by TestMain, statically, as the Dockerfile builds them.
var syncBinary, fakeBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "userflow-sync-deploy")
	if err != nil {
		panic(err)
	}
	syncBinary = filepath.Join(dir, "userflow-sync")
	fakeBinary = filepath.Join(dir, "userflow-fake")
	for _, b := range []struct{ out, pkg, ldflags string }{
		{syncBinary, "./cmd/userflow-sync", strings.ReplaceAll(ldflags, "${VERSION}", testVersion)},
		{fakeBinary, "./cmd/userflow-fake", "-s -w"},
	} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", b.ldflags, "-o", b.out, b.pkg)
		cmd.Dir = ".." // the service's module
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "static build of %s as in deploy/Dockerfile: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// validate runs `userflow-sync validate --config path` with exactly env (and
// PATH) and fails the test unless the configuration is valid.
func validate(t *testing.T, path string, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, syncBinary, "validate", "--config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "configuration OK") {
		t.Errorf("userflow-sync validate --config %s: %v\n%s", path, err, out.String())
	}
}

// syncConfig is the part of userflow-sync's configuration these tests
// compare with the deployment files; internal/config is the authority (and
// validate runs it), but another module cannot import it.
type syncConfig struct {
	Kafka struct {
		Brokers     []string `json:"brokers"`
		GroupID     string   `json:"group_id"`
		StartOffset string   `json:"start_offset"`
	} `json:"kafka"`
	Userflow struct {
		BaseURL string `json:"base_url"`
	} `json:"userflow"`
	DeadLetter struct {
		Topic string `json:"topic"`
	} `json:"dead_letter"`
	Metrics struct {
		Listen string `json:"listen"`
	} `json:"metrics"`
	Shutdown struct {
		DrainTimeout string `json:"drain_timeout"`
	} `json:"shutdown"`
	Syncs []struct {
		Name   string `json:"name"`
		Topic  string `json:"topic"`
		Format string `json:"format"`
	} `json:"syncs"`
}

func parseSyncConfig(t *testing.T, text []byte) syncConfig {
	t.Helper()
	var c syncConfig
	if err := yaml.Unmarshal(text, &c); err != nil {
		t.Fatalf("reading the config: %v", err)
	}
	if len(c.Syncs) == 0 {
		t.Fatal("the config has no syncs")
	}
	return c
}

// drainTimeout is shutdown.drain_timeout, or its default (10s).
func (c syncConfig) drainTimeout(t *testing.T) time.Duration {
	t.Helper()
	if c.Shutdown.DrainTimeout == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(c.Shutdown.DrainTimeout)
	if err != nil {
		t.Fatalf("shutdown.drain_timeout: %v", err)
	}
	return d
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
