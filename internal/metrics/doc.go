// Package metrics is the HTTP surface an operator watches: Prometheus
// metrics built from consumer.Stats, and the liveness and readiness probes.
//
// What a caller may rely on:
//   - NewCollector reads its stats function once per scrape and reports the
//     snapshot as constant metrics (see docs/metrics.md for every name). The
//     consumer holds no Prometheus types; a partition that is revoked, or a
//     label set that no longer occurs, simply stops being reported.
//   - Nothing here touches the default Prometheus registry: the caller builds
//     a registry, registers the collector (and, if it wants them, the Go and
//     process collectors), and hands the registry to Handler as a Gatherer.
//   - Handler serves GET /metrics, /healthz and /readyz. /healthz answers
//     200 while the process can serve HTTP and checks nothing else. /readyz
//     answers 200 when every condition of its Health holds, else 503 with a
//     text body naming the conditions that do not.
//   - Serve and ServeListener own the server's goroutine: they return only
//     after it has ended, with nil once ctx has ended and the server has shut
//     down gracefully, or with the error that stopped it (a bind error from
//     Serve comes back at once).
//
// Wiring, in the command:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(c.Stats, time.Now))
//	health := metrics.NewHealth(metrics.GroupJoined, metrics.UserflowReachable)
//	err := metrics.Serve(ctx, cfg.Listen, metrics.Handler(reg, health), log)
package metrics
