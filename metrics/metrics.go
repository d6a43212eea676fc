// Package metrics holds Teamline's Prometheus metrics, served on /metrics
// with the Go runtime and process collectors (goroutines, RSS, CPU).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the counters and gauges the call path updates.
type Metrics struct {
	registry *prometheus.Registry

	// CallsTotal counts ended hotline calls by outcome.
	CallsTotal *prometheus.CounterVec
}

// New builds the metrics with a registry of their own. gauges are sampled
// when /metrics is scraped: name -> help -> value function.
func New(gauges ...Gauge) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		CallsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamline_calls_total", Help: "Hotline calls that ended, by outcome.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.CallsTotal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, g := range gauges {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.Name, Help: g.Help}, g.Value))
	}
	return m
}

// Gauge is a value sampled at scrape time.
type Gauge struct {
	Name, Help string
	Value      func() float64
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}
