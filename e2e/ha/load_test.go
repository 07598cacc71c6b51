package ha

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// guarded is how many protected ConfigMaps the deleters cycle through.
const guarded = 20

const protectionLabel = "orkestra.io/deletion-protection"

// call is one API request of the load, with its outcome: err is empty when
// the API server answered what the webhooks must make it answer.
type call struct {
	start, end time.Time
	op         string
	err        string
}

// load sends API requests through kube-apiserver without pause, each
// reaching a webhook of the gateway: DELETEs of protected ConfigMaps (the
// deletion-protection webhook, failurePolicy Fail, must deny them), and
// CREATEs of Widgets (the validation webhook, failurePolicy Ignore):
// invalid ones must be denied (an unreachable Ignore webhook would let them
// in), valid ones created.
type load struct {
	mu       sync.Mutex
	calls    []call
	phases   []phase
	deleted  []string // protected ConfigMaps deleted
	admitted int      // invalid Widgets created
	stop     chan struct{}
	wg       sync.WaitGroup
}

type phase struct {
	name  string
	start time.Time
}

// pause between two calls of one worker: the load is continuous, and
// leaves this 2-core machine some air.
const pause = 10 * time.Millisecond

func prepareLoad(t *testing.T) {
	t.Helper()
	cms := env.Clientset.CoreV1().ConfigMaps(loadNS)
	for i := range guarded {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("guarded-%d", i), Labels: map[string]string{protectionLabel: "true"}}}
		if _, err := cms.Create(context.Background(), cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// startLoad starts deleters and creators workers of each kind.
func startLoad(t *testing.T, workers int, first string) *load {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 10000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &load{stop: make(chan struct{})}
	l.mark(first)
	for w := range workers {
		l.wg.Go(func() { l.deleter(cs, w, workers) })
		l.wg.Go(func() { l.creator(dyn, w) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) running() bool {
	select {
	case <-l.stop:
		return false
	default:
		return true
	}
}

func (l *load) record(c call) {
	c.end = time.Now()
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

func (l *load) deleter(cs kubernetes.Interface, w, workers int) {
	cms := cs.CoreV1().ConfigMaps(loadNS)
	for k := w; l.running(); k += workers {
		name := fmt.Sprintf("guarded-%d", k%guarded)
		c := call{start: time.Now(), op: "delete protected"}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cms.Delete(ctx, name, metav1.DeleteOptions{})
		cancel()
		switch {
		case err == nil:
			c.err = "the protected ConfigMap " + name + " was deleted"
			l.mu.Lock()
			l.deleted = append(l.deleted, name)
			l.mu.Unlock()
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{protectionLabel: "true"}}}
			_, _ = cms.Create(context.Background(), cm, metav1.CreateOptions{})
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "denied the request"):
		default:
			c.err = err.Error()
		}
		l.record(c)
		time.Sleep(pause)
	}
}

func (l *load) creator(dyn dynamic.Interface, w int) {
	res := dyn.Resource(widgets).Namespace(loadNS)
	for k := 0; l.running(); k++ {
		invalid := k%2 == 0
		replicas := int64(3)
		c := call{start: time.Now(), op: "create valid"}
		if invalid {
			replicas, c.op = 50, "create invalid"
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "e2e.example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"generateName": fmt.Sprintf("w%d-", w)},
			"spec":     map[string]any{"replicas": replicas},
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		got, err := res.Create(ctx, obj, metav1.CreateOptions{})
		cancel()
		switch {
		case invalid && err == nil:
			c.err = "an invalid Widget was admitted: the validation webhook was not reached"
			l.mu.Lock()
			l.admitted++
			l.mu.Unlock()
			_ = res.Delete(context.Background(), got.GetName(), metav1.DeleteOptions{})
		case invalid && apierrors.IsInvalid(err) && strings.Contains(err.Error(), "replicas must be between 1 and 10"):
		case !invalid && err == nil:
		default:
			c.err = err.Error()
		}
		l.record(c)
		time.Sleep(pause)
	}
}

// mark starts a new phase now.
func (l *load) mark(name string) {
	l.mu.Lock()
	l.phases = append(l.phases, phase{name, time.Now()})
	l.mu.Unlock()
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// phaseCalls are the calls started in each phase, and each phase's length
// (the last one ends at the last call).
func (l *load) phaseCalls() (names []string, secs []float64, calls [][]call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := slices.Clone(l.calls)
	slices.SortFunc(cs, func(a, b call) int { return a.start.Compare(b.start) })
	for i, p := range l.phases {
		end := time.Time{}
		if i+1 < len(l.phases) {
			end = l.phases[i+1].start
		} else if len(cs) > 0 {
			end = cs[len(cs)-1].end
		}
		var in []call
		for _, c := range cs {
			if !c.start.Before(p.start) && (end.IsZero() || c.start.Before(end)) {
				in = append(in, c)
			}
		}
		names = append(names, p.name)
		secs = append(secs, end.Sub(p.start).Seconds())
		calls = append(calls, in)
	}
	return names, secs, calls
}

func failed(cs []call) []call {
	var out []call
	for _, c := range cs {
		if c.err != "" {
			out = append(out, c)
		}
	}
	return out
}
