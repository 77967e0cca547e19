// Command userflow-fake serves the strict fake Userflow API of package
// userflowtest, for docker-compose and demos. Its admin surface under
// /_admin/ needs no key: run it on trusted networks only.
//
//	userflow-fake -listen 127.0.0.1:8080 -api-key ak_test -latency 50ms -error-rate 0.05
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "userflow-fake:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("userflow-fake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (use :8080 inside a container)")
	apiKey := fs.String("api-key", os.Getenv("USERFLOW_API_KEY"), "API key to accept (default $USERFLOW_API_KEY; required)")
	latency := fs.Duration("latency", 0, "delay before every API answer")
	errorRate := fs.Float64("error-rate", 0, "fraction of API requests answered 500")
	rpsLimit := fs.Float64("rps-limit", 0, "API requests per second accepted before answering 429 (0: no limit)")
	seed := fs.Uint64("seed", 0, "seed of the random source behind fault rates")
	lenient := fs.Bool("lenient", false, "accept what Userflow accepts but the strict fake rejects (see package doc)")
	logLimit := fs.Int("log-limit", 10000, "requests kept in the request log (0: all)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *apiKey == "" {
		return errors.New("-api-key or USERFLOW_API_KEY is required")
	}

	fake, err := userflowtest.New(userflowtest.Options{
		APIKey:          *apiKey,
		Lenient:         *lenient,
		Seed:            *seed,
		RequestLogLimit: *logLimit,
		Faults:          userflowtest.Faults{Latency: *latency, ErrorRate: *errorRate, RPSLimit: *rpsLimit},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Printf("userflow-fake listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
