package deploy_test

import (
	"debug/elf"
	"os/exec"
	"strings"
	"testing"
)

// TestDockerfileBuildFlags: the Dockerfile builds with CGO off and the flags
// TestMain builds with, and stamps the version.
func TestDockerfileBuildFlags(t *testing.T) {
	df := string(readFile(t, "Dockerfile"))
	for _, want := range []string{
		"CGO_ENABLED=0",
		`go build -trimpath -ldflags "` + ldflags + `"`,
		"-o /out/userflow-sync ./cmd/userflow-sync",
		"-o /out/userflow-fake ./cmd/userflow-fake",
		"AS userflow-sync", "AS userflow-fake",
		"gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		`HEALTHCHECK`, `"healthcheck", "--url", "http://127.0.0.1:9464/healthz"`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile does not contain %q", want)
		}
	}
}

// TestStaticBinaries: what TestMain built runs on a distroless static image:
// no dynamic loader, no shared libraries.
func TestStaticBinaries(t *testing.T) {
	for _, bin := range []string{syncBinary, fakeBinary} {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", bin)
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
		}
		f.Close()
	}
	out, err := exec.Command(syncBinary, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "userflow-sync "+testVersion {
		t.Errorf("version of the stamped build: %q, %v; want %q", out, err, "userflow-sync "+testVersion)
	}
}
