package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/internal/kafkatest"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// bins holds the binaries built once by TestMain.
var bins struct {
	dir               string
	sync, fake, kfake string
	err               error
	once              sync.Once
	root              string
}

// binaries builds userflow-sync, userflow-fake and kfake once per test run
// (without -race: they are the system under test, run as they ship).
func binaries(t *testing.T) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "chaos-bin-")
		if err != nil {
			bins.err = err
			return
		}
		bins.dir = dir
		root, err := filepath.Abs("../..")
		if err != nil {
			bins.err = err
			return
		}
		// One go build for the three: it shares the work and builds in parallel.
		bins.sync, bins.fake, bins.kfake = filepath.Join(dir, "userflow-sync"), filepath.Join(dir, "userflow-fake"), filepath.Join(dir, "kfake")
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/userflow-sync", "./cmd/userflow-fake", "./cmd/kfake")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		_ = os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// process is a child process with its output kept in a file.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

// start runs bin with args; the first n lines of its stdout are returned
// before start does, the rest goes to its log file with its stderr. The
// process is killed when the test ends if it is still running.
func start(t *testing.T, name, bin string, n int, args ...string) (*process, []string) {
	t.Helper()
	dir := t.TempDir()
	if *logs != "" {
		dir = filepath.Join(*logs, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: exec.Command(bin, args...), out: out, done: make(chan struct{})}
	p.cmd.Stderr = out
	p.cmd.Stdout = out
	// With lines to read, stdout is a pipe of our own (not StdoutPipe,
	// which Wait closes under a reader): read n lines, then copy the rest
	// until the process exits and closes its end.
	var pr, pw *os.File
	copied := make(chan struct{})
	if n > 0 {
		if pr, pw, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		p.cmd.Stdout = pw
	} else {
		close(copied)
	}
	err = p.cmd.Start()
	if pw != nil {
		_ = pw.Close() // the child has its own copy; ours would keep the pipe open after it exits
	}
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		<-copied
		_ = out.Close()
	})
	var lines []string
	if n > 0 {
		br := bufio.NewReader(pr)
		for len(lines) < n {
			line, err := br.ReadString('\n')
			if err != nil {
				_ = p.cmd.Process.Kill()
				_ = pr.Close()
				close(copied)
				t.Fatalf("%s printed %q, then stopped (%v): %s", name, lines, err, p.log())
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
		go func() {
			defer close(copied)
			_, _ = io.Copy(out, br)
			_ = pr.Close()
		}()
	}
	return p, lines
}

// output is everything the process printed so far.
func (p *process) output() string {
	data, _ := os.ReadFile(p.out.Name())
	return string(data)
}

// log is the tail of output, for failure messages.
func (p *process) log() string {
	data := []byte(p.output())
	if len(data) > 4000 {
		data = append([]byte("…"), data[len(data)-4000:]...)
	}
	return string(data)
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends sig and waits for the exit, at most timeout.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: no exit %s after %v", p.name, timeout, sig)
	}
}

// externalBroker reports whether the environment names a broker for the
// tests (KAFKA_BROKERS, or a testcontainers Kafka with KAFKA_TEST_CONTAINER=1
// and -tags testcontainers): see internal/kafkatest.
func externalBroker() bool {
	return os.Getenv("KAFKA_BROKERS") != "" || os.Getenv("KAFKA_TEST_CONTAINER") == "1"
}

// broker is the Kafka broker of a scenario: cmd/kfake as a process, or the
// external one of internal/kafkatest (admin is then "": no broker faults).
type broker struct {
	addrs     []string
	transport *kafka.Transport // short metadata TTL: leaders move in some scenarios
	admin     string
	topic     func(string) string
	names     map[string]string // broker topic → workload topic
}

func startBroker(t *testing.T, brokers int) *broker {
	t.Helper()
	b := &broker{names: map[string]string{}, transport: &kafka.Transport{MetadataTTL: 100 * time.Millisecond}}
	t.Cleanup(b.transport.CloseIdleConnections)
	if externalBroker() {
		kb := kafkatest.Start(t, Partitions)
		b.addrs, b.topic = kb.Brokers, kb.Topic
	} else {
		var topics []string
		for name, n := range Partitions {
			topics = append(topics, fmt.Sprintf("%s:%d", name, n))
		}
		slices.Sort(topics)
		_, lines := start(t, "kfake", bins.kfake, 2, "-port", "0", "-brokers", fmt.Sprint(brokers),
			"-topics", strings.Join(topics, ","), "-admin", "127.0.0.1:0")
		b.addrs = strings.Split(lines[0], ",")
		b.admin = strings.TrimPrefix(lines[1], "admin ")
		b.topic = func(s string) string { return s }
	}
	for name := range Partitions {
		b.names[b.topic(name)] = name
	}
	return b
}

// control posts to the broker's admin surface.
func (b *broker) control(t *testing.T, method, path string, body any) {
	t.Helper()
	if b.admin == "" {
		t.Fatal("broker faults need cmd/kfake (not KAFKA_BROKERS)")
	}
	call(t, method, b.admin+path, body)
}

func call(t *testing.T, method, url string, body any, into ...any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, data)
	}
	for _, v := range into {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
}

// fake is the fake Userflow process.
type fake struct {
	url    string
	badIDs []string
}

const apiKey = "ak_chaos_secret_do_not_print"

func startFake(t *testing.T, badIDs []string) *fake {
	t.Helper()
	_, lines := start(t, "userflow-fake", bins.fake, 1, "-listen", "127.0.0.1:0", "-api-key", apiKey, "-log-limit", "0", "-seed", "1")
	u := strings.TrimPrefix(lines[0], "userflow-fake listening on ")
	f := &fake{url: u, badIDs: badIDs}
	f.setFaults(t, userflowtest.Faults{})
	return f
}

// setFaults replaces the fake's faults; the workload's refused ids stay.
func (f *fake) setFaults(t *testing.T, faults userflowtest.Faults) {
	t.Helper()
	faults.PermanentBadIDs = f.badIDs
	call(t, http.MethodPut, f.url+"/_admin/faults", faults)
}

func (f *fake) stats(t *testing.T) userflowtest.Stats {
	var s userflowtest.Stats
	call(t, http.MethodGet, f.url+"/_admin/stats", nil, &s)
	return s
}

// proxy forwards one userflow-sync process's requests to the fake, naming
// the process in InstanceHeader. When the fake cuts a connection the proxy
// cuts the client's, so the process sees the reset itself.
func proxy(t *testing.T, target, instance string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Set(InstanceHeader, instance)
		r.Header.Del("X-Forwarded-For")
	}
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			_ = conn.Close()
			return
		}
		panic(http.ErrAbortHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ErrorLog: nil}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		rp.Transport.(*http.Transport).CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

// commitSampler reads the group's committed offsets every interval until
// stopped.
type commitSampler struct {
	mu      sync.Mutex
	samples []CommitSample
	stop    context.CancelFunc
	done    chan struct{}
}

func sampleCommits(b *broker, group string, every time.Duration) *commitSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &commitSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if got, err := committed(ctx, b, group); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, got...)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops the sampler and returns its samples.
func (s *commitSampler) finish() []CommitSample {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

var sourceTopics = []string{TopicUsers, TopicCompanies, TopicMemberships}

func committed(ctx context.Context, b *broker, group string) ([]CommitSample, error) {
	topics := map[string][]int{}
	for _, name := range sourceTopics {
		for p := range Partitions[name] {
			topics[b.topic(name)] = append(topics[b.topic(name)], p)
		}
	}
	resp, err := b.client().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: topics})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	var out []CommitSample
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return nil, p.Error
			}
			out = append(out, CommitSample{TopicPartition{b.names[topic], p.Partition}, p.CommittedOffset})
		}
	}
	return out, nil
}

func (b *broker) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(b.addrs...), Timeout: 5 * time.Second, Transport: b.transport}
}

// endOffsets returns the end offset of every partition of the named topics, retrying while
// the client's metadata still names a former leader.
func endOffsets(ctx context.Context, b *broker, names ...string) (ends map[TopicPartition]int64, err error) {
	_ = waitFor(10*time.Second, func() bool {
		ends, err = endOffsetsOnce(ctx, b, names)
		return err == nil
	})
	return ends, err
}

func endOffsetsOnce(ctx context.Context, b *broker, names []string) (map[TopicPartition]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, name := range names {
		for p := range Partitions[name] {
			req.Topics[b.topic(name)] = append(req.Topics[b.topic(name)], kafka.LastOffsetOf(p))
		}
	}
	resp, err := b.client().ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[TopicPartition]int64{}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return nil, p.Error
			}
			out[TopicPartition{b.names[topic], p.Partition}] = p.LastOffset
		}
	}
	return out, nil
}

// readAll reads every record of a topic up to its end.
func readAll(ctx context.Context, b *broker, name string) ([]kafka.Message, error) {
	var out []kafka.Message
	for p := range Partitions[name] {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.addrs, Topic: b.topic(name), Partition: p, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			return nil, err
		}
		ends, err := endOffsets(ctx, b, name)
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		end := ends[TopicPartition{name, p}]
		for i := int64(0); i < end; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", name, p, err)
			}
			m.Topic = name
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		_ = r.Close()
	}
	return out, nil
}

// errTimeout is returned by waitFor when the condition did not hold in time.
var errTimeout = errors.New("timed out")

// waitFor polls cond every 20ms until it holds or timeout passes. It waits
// on progress of the system, never for a fixed time.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
