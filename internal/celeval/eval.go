package celeval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// Input is one admission request as the API server evaluates a policy on
// it.
type Input struct {
	// Request carries object and oldObject as raw JSON (object is absent on
	// DELETE, oldObject on CREATE), the operation and userInfo.
	Request *admissionv1.AdmissionRequest
	// Namespace is namespaceObject: the request's namespace; nil for
	// cluster-scoped objects (the variable is then null).
	Namespace *corev1.Namespace
}

// Result is the verdict of one expression rule.
type Result struct {
	Rule    rules.Expression
	Valid   bool   // the expression gave true
	Message string // why not, when !Valid and Err is nil
	// Err says why the expression did not evaluate (a runtime error such as
	// a missing field, the cost limit); the API server then applies the
	// failure policy.
	Err error
}

// Evaluate evaluates the expression rules against in, in order. The error
// is an input that cannot be decoded.
func Evaluate(exprs []rules.Expression, in Input) ([]Result, error) {
	act, err := activation(in)
	if err != nil {
		return nil, err
	}
	env, err := dynEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	out := make([]Result, 0, len(exprs))
	for _, e := range exprs {
		r := Result{Rule: e}
		v, err := run(env, e.Expression, false, act)
		switch {
		case err != nil:
			r.Err = err
		case v == types.True:
			r.Valid = true
		default:
			r.Message = message(env, e, act)
		}
		out = append(out, r)
	}
	return out, nil
}

// message is the denial message as the API server composes it: the
// messageExpression's result when it gives a non-blank single line, else
// the message, else the expression.
func message(env *cel.Env, e rules.Expression, act map[string]any) string {
	if e.MessageExpression != "" {
		if v, err := run(env, e.MessageExpression, true, act); err == nil {
			if s, ok := v.Value().(string); ok {
				s = strings.TrimSpace(s)
				if s != "" && len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") {
					return s
				}
			}
		}
	}
	if m := strings.TrimSpace(e.Message); m != "" {
		return m
	}
	return "failed expression: " + strings.TrimSpace(e.Expression)
}

func run(env *cel.Env, src string, msg bool, act map[string]any) (ref.Val, error) {
	ast, err := compile(env, src, msg)
	if err != nil {
		return nil, err
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(celconfig.CheckFrequency))
	if err != nil {
		return nil, err
	}
	v, _, err := prg.Eval(act)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// activation binds the variables as the API server does: objects as
// unstructured JSON (integers as int), null when absent; request and
// namespaceObject as their typed structs.
func activation(in Input) (map[string]any, error) {
	req := in.Request
	if req == nil {
		return nil, fmt.Errorf("no admission request")
	}
	obj, err := objectVal(req.Object.Raw, "object")
	if err != nil {
		return nil, err
	}
	old, err := objectVal(req.OldObject.Raw, "oldObject")
	if err != nil {
		return nil, err
	}
	r := *req
	r.Object.Raw, r.Object.Object = nil, nil
	r.OldObject.Raw, r.OldObject.Object = nil, nil
	var ns ref.Val = types.NullValue
	if in.Namespace != nil {
		ns = common.SchemalessTypedToVal(plugincel.CreateNamespaceObject(in.Namespace))
	}
	return map[string]any{
		varObject:    obj,
		varOldObject: old,
		varRequest:   common.SchemalessTypedToVal(&r),
		varNamespace: ns,
	}, nil
}

func objectVal(raw []byte, what string) (ref.Val, error) {
	if len(raw) == 0 {
		return types.NullValue, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if v == nil {
		return types.NullValue, nil
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	return types.DefaultTypeAdapter.NativeToValue(v), nil
}

// maxDepth bounds the nesting of a decoded object.
const maxDepth = 1000

// decodeJSON decodes one JSON value as unstructured objects hold it:
// integers as int64, other numbers as float64.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return normalize(v, 0)
}

func normalize(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	}
	return v, nil
}
