package service

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// ReportEnv names the file a Service-mode test writes its Report to, as
// JSON (make bench reads it); unset, the report is only printed.
const ReportEnv = "ORK_HA_REPORT"

// Report is what a Service-mode run measured: API calls through the API
// server per phase, and notifications per key across replicas.
type Report struct {
	Replicas   int           `json:"replicas"`
	Phases     []PhaseReport `json:"phases"`
	Deliveries []KeyReport   `json:"deliveries,omitempty"`
	Notes      []string      `json:"notes,omitempty"`
}

// PhaseReport counts the calls started during one phase.
type PhaseReport struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Calls   int     `json:"calls"`
	Failed  int     `json:"failed"`
	// Served is how many webhook calls each live replica answered in the
	// phase (by replica name), from its metrics.
	Served map[string]int `json:"served,omitempty"`
}

// KeyReport is one notification key POSTed to several replicas.
type KeyReport struct {
	Key        string `json:"key"`
	Posts      int    `json:"posts"`
	Replicas   int    `json:"replicas"`
	Deliveries int    `json:"deliveries"`
}

// Table renders the report as Markdown tables.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| phase | seconds | API calls | failed |\n|---|---|---|---|\n")
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "| %s | %.1f | %d | %d |\n", p.Name, p.Seconds, p.Calls, p.Failed)
	}
	if len(r.Deliveries) > 0 {
		fmt.Fprintf(&b, "\n| notification | POSTs | to replicas | deliveries |\n|---|---|---|---|\n")
		for _, d := range r.Deliveries {
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", d.Key, d.Posts, d.Replicas, d.Deliveries)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// Write writes the report to $ORK_HA_REPORT when it is set.
func (r *Report) Write() error {
	path := os.Getenv(ReportEnv)
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
