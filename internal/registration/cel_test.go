package registration

import (
	"errors"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
)

// evalCEL evaluates a matchCondition the way the API server does: object,
// oldObject and request are dynamic values. A compile or evaluation error
// fails the test (with failurePolicy Fail it would reject the request).
func evalCEL(t *testing.T, expr string, vars map[string]any) bool {
	t.Helper()
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
	)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatalf("compiling %s: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"object", "oldObject", "request"} {
		if _, ok := vars[v]; !ok {
			vars[v] = nil
		}
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		t.Fatalf("%s returned %T, want bool", expr, out.Value())
	}
	return b
}

func TestGlobRegexp(t *testing.T) {
	for _, tc := range []struct {
		glob  string
		match []string
		miss  []string
	}{
		{"kube-*", []string{"kube-", "kube-system", "kube-node-lease"}, []string{"kube", "xkube-system", "a/kube-"}},
		{"*-system", []string{"-system", "orkestra-system"}, []string{"system", "orkestra-systems"}},
		{"team-?", []string{"team-a", "team-1"}, []string{"team-", "team-ab"}},
		{"a.b", []string{"a.b"}, []string{"axb"}},
		{"[ab]-*", []string{"a-x", "b-"}, []string{"c-x", "ab-"}},
		{"[^ab]x", []string{"cx", "/x"}, []string{"ax", "bx", "x"}},
		{"[a-c]", []string{"a", "b", "c"}, []string{"d", ""}},
		{`\*x`, []string{"*x"}, []string{"ax"}},
		{"[c-a]", nil, []string{"a", "b", "c"}},
		{"*", []string{"", "anything"}, []string{"a/b"}},
	} {
		re, err := globRegexp(tc.glob)
		if err != nil {
			t.Errorf("%q: %v", tc.glob, err)
			continue
		}
		rx := regexp.MustCompile(re)
		for _, s := range tc.match {
			if !rx.MatchString(s) {
				t.Errorf("%q -> %s does not match %q", tc.glob, re, s)
			}
		}
		for _, s := range tc.miss {
			if rx.MatchString(s) {
				t.Errorf("%q -> %s matches %q", tc.glob, re, s)
			}
		}
	}
	for _, bad := range []string{"a[", "[]", "[^]", "[a-]", `a\`, `[a\`, "[-a]", "\xff"} {
		if _, err := globRegexp(bad); !errors.Is(err, path.ErrBadPattern) {
			t.Errorf("%q: err = %v, want ErrBadPattern", bad, err)
		}
	}
}

func TestCELString(t *testing.T) {
	for _, s := range []string{"plain", "it's", `back\slash`, "new\nline", "tab\t", "ünï", "\x00", "emoji 😀", "\u2028"} {
		got := evalString(t, celStr(s))
		if got != s {
			t.Errorf("celStr(%q) = %s evaluates to %q", s, celStr(s), got)
		}
	}
}

func evalString(t *testing.T, lit string) string {
	t.Helper()
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(lit)
	if iss.Err() != nil {
		t.Fatalf("compiling %s: %v", lit, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := prg.Eval(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Value().(string)
}

// FuzzGlobRegexp checks the translation against path.Match itself: the same
// patterns are malformed, and a well-formed pattern matches the same names.
func FuzzGlobRegexp(f *testing.F) {
	for _, s := range [][2]string{
		{"kube-*", "kube-system"}, {"*-system", "orkestra-system"}, {"team-?", "team-a"},
		{"[a-c]x", "bx"}, {"[^a]", "/"}, {`\[x`, "[x"}, {"a[", "a"}, {"[c-a]", "b"}, {"*", "a/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, glob, name string) {
		if !utf8.ValidString(glob) || !utf8.ValidString(name) {
			return // namespace names and Katalog strings are UTF-8
		}
		// path.Match backtracks exponentially on many stars; namespace names
		// have at most 63 characters.
		if len(name) > 63 || len(glob) > 63 || strings.Count(glob, "*") > 4 {
			return
		}
		re, err := globRegexp(glob)
		want, werr := path.Match(glob, name)
		if (err != nil) != (werr != nil) {
			t.Fatalf("glob %q name %q: translation err %v, path.Match err %v", glob, name, err, werr)
		}
		if err != nil {
			return
		}
		rx, err := regexp.Compile(re)
		if err != nil {
			t.Fatalf("glob %q gave an invalid regexp %s: %v", glob, re, err)
		}
		if got := rx.MatchString(name); got != want {
			t.Fatalf("glob %q (regexp %s) on %q: %v, path.Match says %v", glob, re, name, got, want)
		}
	})
}

// FuzzCELString checks that any string survives quoting as a CEL literal.
func FuzzCELString(f *testing.F) {
	for _, s := range []string{"", "kube-system", "it's", `a\b`, "\n", "\x7f", "\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		if got := evalString(t, celStr(s)); got != s {
			t.Fatalf("celStr(%q) = %s evaluates to %q", s, celStr(s), got)
		}
	})
}
