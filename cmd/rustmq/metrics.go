package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metricsServer serves the runtime's metrics for Prometheus on /metrics,
// through OpenTelemetry's Prometheus exporter and a registry of its own.
type metricsServer struct {
	Provider *sdkmetric.MeterProvider
	Addr     string // the address it listens on
	srv      *http.Server
	done     chan struct{}
}

// startMetrics listens on addr and serves /metrics until stop. It writes
// the address it serves on to w.
func startMetrics(addr string, w io.Writer) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		Addr:     ln.Addr().String(),
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done:     make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(w, "rustmq: metrics server: %v\n", err)
		}
	}()
	fmt.Fprintf(w, "serving metrics on http://%s/metrics\n", m.Addr)
	return m, nil
}

// stop shuts the server and the meter provider down.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	<-m.done
	_ = m.Provider.Shutdown(ctx)
}
