package certs

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTrusted(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	other := generate(t, testHosts, testNow, time.Hour)
	rotated, err := m.Rotate(testHosts, testNow.Add(time.Minute), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	own := Bundle{Source: "own", PEM: m.CABundle}
	both := Bundle{Source: "rotation", PEM: rotated.CABundle}

	for _, tc := range []struct {
		name    string
		m       *Material
		bundles []Bundle
		at      time.Time
		want    string // "" for trusted
	}{
		{"own CA", m, []Bundle{own}, testNow, ""},
		{"no bundles", m, nil, testNow, ""},
		{"rotation bundle, old certificate", m, []Bundle{both, own}, testNow.Add(time.Minute), ""},
		{"rotation bundle, new certificate", rotated, []Bundle{both}, testNow.Add(time.Minute), ""},
		{"new certificate, old bundle", rotated, []Bundle{both, own}, testNow.Add(time.Minute),
			"the caBundle of own does not trust the served certificate (CN=gw)"},
		{"another CA", m, []Bundle{own, {Source: "ValidatingWebhookConfiguration x, webhook y", PEM: other.CABundle}}, testNow,
			"the caBundle of ValidatingWebhookConfiguration x, webhook y does not trust the served certificate (CN=gw): x509: certificate signed by unknown authority"},
		{"garbage", m, []Bundle{{Source: "CRD a.b", PEM: []byte("not PEM")}}, testNow,
			"the caBundle of CRD a.b holds no PEM certificate, so it does not trust the served certificate"},
		{"empty: system roots", m, []Bundle{{Source: "CRD a.b"}}, testNow,
			"the empty caBundle (system roots) of CRD a.b does not trust the served certificate"},
		{"expired", m, []Bundle{own}, testNow.Add(2 * time.Hour), "certificate has expired or is not yet valid"},
		{"nothing served", &Material{}, []Bundle{own}, testNow, "no certificate is served"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Trusted(tc.m, tc.bundles, tc.at)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.m.Leaf() != nil && !errors.Is(err, errNotTrusted) {
				t.Errorf("error %v does not match ErrNotTrusted", err)
			}
		})
	}
}

// FuzzTrusted feeds arbitrary caBundles (as found in a configuration a user
// edited) to Trusted. The seed corpus (testdata/fuzz/FuzzTrusted) holds the
// material's own CA, a rotation bundle, another CA, cut and mixed-up PEM.
func FuzzTrusted(f *testing.F) {
	// The material of FuzzParse's "valid" seed, whose CA some seeds hold.
	seed := readCorpus(f, "testdata/fuzz/FuzzParse/valid")
	m, err := Parse(map[string][]byte{KeyCert: seed[0], KeyKey: seed[1], KeyCA: seed[2], KeyCAKey: seed[3]})
	if err != nil {
		f.Fatal(err)
	}
	at := m.Leaf().NotBefore.Add(time.Minute)
	f.Fuzz(func(t *testing.T, bundle []byte) {
		err := Trusted(m, []Bundle{{Source: "fuzz", PEM: bundle}}, at)
		if err == nil {
			return
		}
		if !errors.Is(err, errNotTrusted) || !strings.Contains(err.Error(), "caBundle") || !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("error %q does not name the bundle or match ErrNotTrusted", err)
		}
	})
}

// readCorpus decodes a seed corpus file of []byte values.
func readCorpus(tb testing.TB, name string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) == 0 || lines[0] != "go test fuzz v1" {
		tb.Fatalf("%s is not a fuzz corpus file", name)
	}
	var vals [][]byte
	for _, l := range lines[1:] {
		q, ok := strings.CutPrefix(l, "[]byte(")
		if !ok || !strings.HasSuffix(q, ")") {
			tb.Fatalf("%s: unexpected line %q", name, l)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		vals = append(vals, []byte(v))
	}
	return vals
}
