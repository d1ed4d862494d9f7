package rest

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// NewHTTPServer wraps h in an http.Server configured as the API needs:
// HTTP/1.1 only (clients read reason phrases, which HTTP/2 does not
// carry), bounded header size and timeouts against slow clients.
func NewHTTPServer(h http.Handler, tlsConf *tls.Config, log *slog.Logger) *http.Server {
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		tlsConf.NextProtos = []string{"http/1.1"}
	}
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// A non-nil, empty map turns HTTP/2 off.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
