// Package bundle generates the manifests that install the gateway for one
// Katalog (`ork generate bundle --for gateway`): Namespace, ServiceAccount,
// least-privilege RBAC, the Katalog in a ConfigMap, Deployment, Service and
// PodDisruptionBudget, as commented YAML.
//
// The RBAC is derived from what the gateway's code calls, for this Katalog
// only: see ClusterRules and NamespaceRules. The output is deterministic:
// the same Katalog and options give the same bytes.
//
// It is toolchain-only: the gateway build never links it (a test of
// cmd/ork checks the import graph).
package bundle
