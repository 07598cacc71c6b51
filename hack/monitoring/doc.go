// Package monitoring checks the monitoring artefacts of the gateway with
// Prometheus' own code, as promtool would: the PrometheusRule that
// `ork generate bundle --monitoring` writes is parsed and validated by
// model/rulefmt (PromQL expressions, annotation templates), and every query
// of docs/grafana-dashboard.json by the PromQL parser. It is its own module
// so that the project's module never depends on github.com/prometheus/prometheus.
package monitoring
