package userflow

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns a transport tuned for many concurrent requests to one
// host (Userflow's API) over kept-alive connections. It is what the default
// client uses; build your own *http.Client on it to change the timeout or the
// redirect policy.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,  // an API that takes longer to accept a connection is down: fail and let the caller retry
		KeepAlive: 30 * time.Second, // TCP keep-alive probes find dead peers behind NATs and load balancers
	}
	return &http.Transport{
		Proxy:       http.ProxyFromEnvironment, // honour HTTPS_PROXY and NO_PROXY, as operators expect
		DialContext: dialer.DialContext,
		// Every request goes to the same host, so the per-host idle pool is the
		// one that matters (net/http's default keeps only 2). 256 idle
		// connections cover hundreds of concurrent workers without reconnecting;
		// how many run at once is bounded by the caller's workers and the
		// Limiter, not here (MaxConnsPerHost stays unlimited).
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second, // close connections idle this long, before a server or balancer drops them under us
		TLSHandshakeTimeout: 10 * time.Second,
		// Bounds the wait for the status line once the request is sent, also
		// when the client's overall timeout is off (WithTimeout(0)).
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 1 * time.Second, // only used if a request sets Expect: 100-continue
		// A custom DialContext disables HTTP/2 unless asked for; with it, many
		// requests share one TLS connection when the server speaks HTTP/2.
		ForceAttemptHTTP2: true,
	}
}
