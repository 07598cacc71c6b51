package registration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// ProbeAnswer is how an object in force answers its probe.
type ProbeAnswer int

const (
	// ProbeDeny: the request is denied with ProbeMessage (validating
	// policies with a Deny binding, and every webhook configuration).
	ProbeDeny ProbeAnswer = iota
	// ProbeWarn: the request gets ProbeMessage as a warning (a Warn binding).
	ProbeWarn
	// ProbeMutate: the object comes back with ProbeResultAnnotation set to
	// the target (a MutatingAdmissionPolicy).
	ProbeMutate
)

// Probe is one registered object to prove in force.
type Probe struct {
	// Target is the probe annotation's value (ProbeTarget).
	Target string
	Answer ProbeAnswer
	// Webhook is the name of a configuration's probe webhook: the API
	// server naming it (a denial, or a failed call when no replica
	// answers) proves the configuration loaded as well.
	Webhook string
}

// A Prober tells whether the API server enforces a registered object: the
// API server loads admission configurations and policies asynchronously,
// so having written one does not mean it is in force.
type Prober interface {
	// Wait probes until the object answers as in force (true) or ctx ends.
	Wait(ctx context.Context, p Probe) bool
}

var secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// SecretProber probes with dry-run UPDATEs of the gateway's own TLS Secret
// carrying the probe annotation: the only request every registered object
// also matches that the gateway is allowed to make (get and update on that
// Secret), and a dry run changes nothing.
type SecretProber struct {
	client            dynamic.Interface
	warnings          *warningRecorder
	namespace, secret string
	mu                sync.Mutex
}

// NewSecretProber builds a prober with its own client (to read the
// warnings of its requests) from cfg.
func NewSecretProber(cfg *rest.Config, httpClient *http.Client, namespace, secret string) (*SecretProber, error) {
	w := &warningRecorder{}
	c := rest.CopyConfig(cfg)
	c.WarningHandler = w
	client, err := dynamic.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, err
	}
	return &SecretProber{client: client, warnings: w, namespace: namespace, secret: secret}, nil
}

// probeInterval is the pause between two probes of the same object.
const probeInterval = 100 * time.Millisecond

// Wait implements Prober.
func (s *SecretProber) Wait(ctx context.Context, p Probe) bool {
	for {
		if ok, _ := s.Once(ctx, p); ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(probeInterval):
		}
	}
}

// Once sends one probe and reports whether the object answered.
func (s *SecretProber) Once(ctx context.Context, p Probe) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ri := s.client.Resource(secretGVR).Namespace(s.namespace)
	sec, err := ri.Get(ctx, s.secret, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("probe %s: reading Secret %s/%s: %w", p.Target, s.namespace, s.secret, err)
	}
	ann := sec.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[ProbeAnnotation] = p.Target
	sec.SetAnnotations(ann)
	s.warnings.reset()
	out, err := ri.Update(ctx, sec, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: policy.ManagedByValue})
	if apierrors.IsConflict(err) {
		return false, err // written meanwhile: probe again
	}
	switch p.Answer {
	case ProbeWarn:
		return s.warnings.has(ProbeMessage(p.Target)), nil
	case ProbeMutate:
		return err == nil && out.GetAnnotations()[ProbeResultAnnotation] == p.Target, nil
	}
	if err == nil {
		return false, nil
	}
	msg := err.Error()
	return strings.Contains(msg, ProbeMessage(p.Target)) || (p.Webhook != "" && strings.Contains(msg, `"`+p.Webhook+`"`)), nil
}

// warningRecorder keeps the warnings of the latest request.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, text)
	w.mu.Unlock()
}

func (w *warningRecorder) reset() {
	w.mu.Lock()
	w.msgs = nil
	w.mu.Unlock()
}

func (w *warningRecorder) has(sub string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
