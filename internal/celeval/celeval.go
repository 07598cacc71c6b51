// Package celeval type-checks and evaluates the CEL rules of a Katalog
// (validation rules with expression:) the way the API server does for a
// ValidatingAdmissionPolicy: the same variables (object, oldObject,
// request, namespaceObject), the same Kubernetes libraries (quantity,
// regex, lists, urls, ip, cidr, semver, format...) and the same cost
// limit. It serves `ork validate` and `ork gateway eval`.
//
// Toolchain only: the gateway build links no CEL interpreter (the webhook
// engine never evaluates expression rules; the API server does), and
// cmd/ork/importgraph_test.go fails if this package or cel-go reaches it.
package celeval

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Variable names, as in a ValidatingAdmissionPolicy.
const (
	varObject    = "object"
	varOldObject = "oldObject"
	varRequest   = "request"
	varNamespace = "namespaceObject"
)

// newEnv builds the CEL environment of a ValidatingAdmissionPolicy without
// params or authorizer: object and oldObject of objType (dyn when nil),
// request and namespaceObject typed as the API server types them.
func newEnv(objType *apiservercel.DeclType) (*cel.Env, error) {
	base := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	requestType := plugincel.BuildRequestType()
	namespaceType := plugincel.BuildNamespaceType()
	obj := cel.DynType
	decls := []*apiservercel.DeclType{namespaceType, requestType}
	if objType != nil {
		obj = objType.CelType()
		decls = append(decls, objType)
	}
	set, err := base.Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions: []cel.EnvOption{
			cel.Variable(varObject, obj),
			cel.Variable(varOldObject, obj),
			cel.Variable(varNamespace, namespaceType.CelType()),
			cel.Variable(varRequest, requestType.CelType()),
		},
		DeclTypes: decls,
	}, environment.StrictCostOpt)
	if err != nil {
		return nil, err
	}
	// New expressions: the libraries a policy written today may use.
	return set.Env(environment.NewExpressions)
}

// dynEnv is the environment the API server compiles a policy's expressions
// in (object as dyn), built once.
var dynEnv = sync.OnceValues(func() (*cel.Env, error) { return newEnv(nil) })

// compile compiles src in env and checks its result type: bool for an
// expression, string for a messageExpression. Dyn is accepted only where
// the API server accepts it (never, for these two).
func compile(env *cel.Env, src string, message bool) (*cel.Ast, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(iss.String()))
	}
	want := cel.BoolType
	if message {
		want = cel.StringType
	}
	if !ast.OutputType().IsExactType(want) {
		return nil, fmt.Errorf("must evaluate to %s but gives %s", want, ast.OutputType())
	}
	return ast, nil
}

// Checker type-checks expression rules for the check pass
// (check.CELChecker). It compiles each expression as the API server does
// (object as dyn: what the API server refuses there, it refuses), then,
// for an entry with a crdFile, against the CRD's schema at the rules'
// version, so a misspelt field or a wrong type is an error before any
// object exists. Built-in resources are checked with object as dyn.
type Checker struct {
	mu   sync.Mutex
	envs map[envKey]*cel.Env
}

// envKey keys the typed environments: one per CRD and version.
type envKey struct {
	crd     *apiextv1.CustomResourceDefinition
	version string
}

// Check implements check.CELChecker.
func (c *Checker) Check(crd *policy.CRD, src string, message bool) error {
	env, err := dynEnv()
	if err != nil {
		return fmt.Errorf("CEL environment: %w", err)
	}
	if _, err := compile(env, src, message); err != nil {
		return err
	}
	typed, err := c.typedEnv(crd)
	if err != nil || typed == nil {
		return err
	}
	if _, err := compile(typed, src, message); err != nil {
		return fmt.Errorf("against the schema of %s %s: %w", crd.Kind, crd.Version, err)
	}
	return nil
}

// typedEnv returns the environment with object typed by the CRD's schema
// at crd.Version; nil without a schema.
func (c *Checker) typedEnv(crd *policy.CRD) (*cel.Env, error) {
	if crd == nil || crd.Definition == nil {
		return nil, nil
	}
	key := envKey{crd: crd.Definition, version: crd.Version}
	c.mu.Lock()
	defer c.mu.Unlock()
	if env, ok := c.envs[key]; ok {
		return env, nil
	}
	t, err := objectType(crd)
	if err != nil || t == nil {
		return nil, err
	}
	env, err := newEnv(t)
	if err != nil {
		return nil, fmt.Errorf("CEL environment for %s: %w", crd.Kind, err)
	}
	if c.envs == nil {
		c.envs = map[envKey]*cel.Env{}
	}
	c.envs[key] = env
	return env, nil
}

// costLimit bounds one evaluation as the API server bounds one call.
const costLimit = celconfig.PerCallLimit
