package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
	"github.com/userflow-sync/userflow-sync/internal/config"
	"github.com/userflow-sync/userflow-sync/internal/metrics"
	"github.com/userflow-sync/userflow-sync/userflow"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("run --config FILE", "Sync until SIGINT or SIGTERM, then drain, commit and exit 0. A second signal exits at once.", stderr)
	path := fs.String("config", "", "configuration file (required)")
	level := fs.String("log-level", "", "debug, info, warn or error (default: log.level of the config)")
	format := fs.String("log-format", "", "json or console (default: log.format of the config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, pick(*level, cfg.Log.Level), pick(*format, cfg.Log.Format))
	if err != nil {
		return usageError{err.Error()}
	}
	defer func() { _ = log.Sync() }()
	p, err := newPipeline(cfg, log)
	if err != nil {
		return err
	}
	return p.run(ctx)
}

// pipeline is the consumer with what runs beside it: the metrics and health
// server, and the readiness watcher.
type pipeline struct {
	cfg      *config.Config
	log      *zap.Logger
	client   *userflow.Client
	consumer *consumer.Consumer
	health   *metrics.Health
}

func newPipeline(cfg *config.Config, log *zap.Logger, opts ...consumer.Option) (*pipeline, error) {
	client, err := cfg.UserflowClient()
	if err != nil {
		return nil, configError{err}
	}
	ccfg, err := cfg.ConsumerConfig()
	if err != nil {
		return nil, configError{err}
	}
	c, err := consumer.New(ccfg, client, log, opts...)
	if err != nil {
		return nil, configError{err}
	}
	return &pipeline{cfg: cfg, log: log, client: client, consumer: c,
		health: metrics.NewHealth(metrics.GroupJoined, metrics.UserflowReachable)}, nil
}

// run runs the consumer until ctx ends or it fails, with the metrics server
// and readiness watcher alongside; it waits for all of them to stop.
func (p *pipeline) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if listen := metricsListen(p.cfg); listen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			metrics.NewCollector(p.consumer.Stats, time.Now),
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		wg.Go(func() {
			if err := metrics.Serve(ctx, listen, metrics.Handler(reg, p.health), p.log); err != nil {
				p.log.Error("metrics server stopped", zap.Error(err))
			}
		})
	}
	wg.Go(func() { p.watchReadiness(ctx) })

	p.log.Info("starting", zap.String("version", buildinfo.Version), zap.Int("syncs", len(p.cfg.Syncs)))
	err := p.consumer.Run(ctx)
	cancel()
	switch {
	case errors.Is(err, consumer.ErrUnauthorized):
		p.log.Error("stopped: Userflow rejected the API key; check userflow.api_key and userflow.base_url", zap.Error(err))
		return fmt.Errorf("userflow rejected the API key (check userflow.api_key and userflow.base_url): %w", err)
	case err != nil:
		p.log.Error("stopped on error", zap.Error(err))
		return err
	}
	p.log.Info("stopped: drained and committed")
	return nil
}

// readinessProbeID is a user id nobody has: a GET of it answers 404 when
// Userflow is reachable and the key is good.
const readinessProbeID = "userflow-sync-readiness-probe"

// watchReadiness keeps /readyz current: group membership from the consumer's
// stats, and Userflow reachability from a probe until the first success,
// then from the consumer's own requests (a period with only network errors
// makes it not ready).
func (p *pipeline) watchReadiness(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	reachable := false
	var lastOK, lastErr int64
	for {
		st := p.consumer.Stats()
		p.health.Set(metrics.GroupJoined, st.Generation != 0)
		ok, failed := requestCounts(st.Requests)
		switch {
		case !reachable:
			reachable = p.probe(ctx)
		case ok > lastOK:
			reachable = true
		case failed > lastErr:
			reachable = false
		}
		lastOK, lastErr = ok, failed
		p.health.Set(metrics.UserflowReachable, reachable)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// requestCounts sums the requests Userflow answered without an auth error,
// and those that got no answer.
func requestCounts(reqs map[consumer.RequestKey]int64) (answered, failed int64) {
	for k, n := range reqs {
		switch k.Status {
		case "error":
			failed += n
		case "401", "403":
		default:
			answered += n
		}
	}
	return answered, failed
}

// probe asks Userflow for a user nobody has: any answer but 401/403 means
// reachable with a good key.
func (p *pipeline) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _, err := p.client.Users.Get(ctx, readinessProbeID)
	return err == nil || (!userflow.IsAuthError(err) && !userflow.IsRetryable(err) && ctx.Err() == nil)
}

// metricsListen is the metrics address, "" when disabled.
func metricsListen(c *config.Config) string {
	if c.Metrics.Listen == nil {
		return ""
	}
	return *c.Metrics.Listen
}

func pick(flagValue, configValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return configValue
}

// newLogger builds the process's logger: JSON or console lines on w at level.
func newLogger(w io.Writer, level, format string) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	var enc zapcore.Encoder
	switch format {
	case "", "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey, ec.EncodeTime = "ts", zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core).With(zap.String("service", buildinfo.Product)), nil
}

// loadConfig loads and validates the config file at path.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError{"--config is required"}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, configError{err}
	}
	return cfg, nil
}
