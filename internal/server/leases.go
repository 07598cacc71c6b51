package server

import (
	"context"
	"fmt"

	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/kubeclient"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// newLeases returns the notification claims shared by every replica (a
// Lease per key in the gateway's namespace). They have their own client
// and request budget, so a burst of notifications never delays the
// registration and certificate work of the maintenance tick.
func (g *Gateway) newLeases() (*dedup.Leases, error) {
	client, err := g.cluster.Dynamic(kubeclient.Options{UserAgent: userAgent + "/notify", QPS: 50, Burst: 100})
	if err != nil {
		return nil, fmt.Errorf("in-cluster client for notification leases: %w", err)
	}
	return dedup.New(client, dedup.Options{
		Namespace: g.ns,
		Holder:    g.self.Name,
		Scope:     g.policy.Name,
		Labels: map[string]string{
			policy.ManagedByLabel:     policy.ManagedByValue,
			registration.KatalogLabel: g.policy.Name,
		},
		Logger:  g.log,
		Metrics: g.metrics.dedup,
	})
}

// sweepLeases removes the expired notification Leases this replica knows,
// on the maintenance tick.
func (g *Gateway) sweepLeases(ctx context.Context) {
	if g.leases == nil {
		return
	}
	n, err := g.leases.Sweep(ctx)
	if err != nil {
		g.log.Warn("removing expired notification leases", "removed", n, "err", err.Error())
	} else if n > 0 {
		g.log.Debug("expired notification leases removed", "removed", n)
	}
}
