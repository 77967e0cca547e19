package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = time.Minute
	// shutdownTimeout bounds the graceful shutdown once ctx has ended; the
	// connections still open after it are closed.
	shutdownTimeout = 5 * time.Second
)

// Handler serves GET (and HEAD) /metrics from g, /healthz and /readyz from h.
// Other paths answer 404, other methods 405.
func Handler(g prometheus.Gatherer, h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if not := h.NotReady(); len(not) > 0 {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(not, ", "))
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	return mux
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// Serve listens on the TCP address listen (like ":9090") and serves handler
// until ctx ends; see ServeListener. It returns a bind error at once.
func Serve(ctx context.Context, listen string, handler http.Handler, log *zap.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return ServeListener(ctx, ln, handler, log)
}

// ServeListener serves handler on ln, which it closes, until ctx ends, then
// shuts the server down: it stops accepting, lets requests in progress finish
// for up to 5s, and closes what is left. It returns after the server's
// goroutine has ended: nil after a shutdown that ctx asked for and that
// completed in time, else the error.
func ServeListener(ctx context.Context, ln net.Listener, handler http.Handler, log *zap.Logger) error {
	log = log.Named("metrics")
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving metrics and health", zap.Stringer("addr", ln.Addr()))

	select {
	case err := <-served:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("metrics: shutdown: %w", err), srv.Close())
	}
	<-served // http.ErrServerClosed, as soon as Shutdown has begun
	return err
}
