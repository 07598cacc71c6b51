package admission

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestApplyPatch(t *testing.T) {
	doc := `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3]}}`
	cases := []struct {
		name, patch, want, err string
	}{
		{"add member", `[{"op":"add","path":"/spec/tier","value":"gold"}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3],"tier":"gold"}}`, ""},
		{"add nested parent", `[{"op":"add","path":"/status","value":{"ready":true}}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3]},"status":{"ready":true}}`, ""},
		{"add null value", `[{"op":"add","path":"/spec/x","value":null}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3],"x":null}}`, ""},
		{"insert into list", `[{"op":"add","path":"/spec/list/1","value":9}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,9,2,3]}}`, ""},
		{"append to list", `[{"op":"add","path":"/spec/list/-","value":4}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3,4]}}`, ""},
		{"add at list end", `[{"op":"add","path":"/spec/list/3","value":4}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3,4]}}`, ""},
		{"replace escaped key ~1", `[{"op":"replace","path":"/metadata/labels/a~1b","value":"x"}]`, `{"metadata":{"labels":{"a/b":"x","c~d":"2"}},"spec":{"list":[1,2,3]}}`, ""},
		{"remove escaped key ~0", `[{"op":"remove","path":"/metadata/labels/c~0d"}]`, `{"metadata":{"labels":{"a/b":"1"}},"spec":{"list":[1,2,3]}}`, ""},
		{"remove list item", `[{"op":"remove","path":"/spec/list/0"}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[2,3]}}`, ""},
		{"test then replace", `[{"op":"test","path":"/spec/list/2","value":3},{"op":"replace","path":"/spec/list/2","value":5}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,5]}}`, ""},
		{"replace whole document", `[{"op":"replace","path":"","value":{}}]`, `{}`, ""},
		{"ops in order", `[{"op":"add","path":"/spec/m","value":{}},{"op":"add","path":"/spec/m/k","value":1}]`, `{"metadata":{"labels":{"a/b":"1","c~d":"2"}},"spec":{"list":[1,2,3],"m":{"k":1}}}`, ""},

		{"missing parent", `[{"op":"add","path":"/nope/x","value":1}]`, "", `operation 0 (add /nope/x): member "nope" does not exist`},
		{"replace missing", `[{"op":"replace","path":"/spec/nope","value":1}]`, "", `member "nope" does not exist`},
		{"remove missing", `[{"op":"remove","path":"/spec/nope"}]`, "", `member "nope" does not exist`},
		{"index out of range", `[{"op":"replace","path":"/spec/list/3","value":1}]`, "", "list index 3 out of range (length 3)"},
		{"leading zero", `[{"op":"add","path":"/spec/list/01","value":1}]`, "", `list index "01" is not a non-negative integer`},
		{"negative", `[{"op":"add","path":"/spec/list/-1","value":1}]`, "", `list index "-1"`},
		{"dash outside add", `[{"op":"remove","path":"/spec/list/-"}]`, "", `list index "-"`},
		{"huge index", `[{"op":"add","path":"/spec/list/99999999999999999999","value":1}]`, "", "out of range"},
		{"into a scalar", `[{"op":"add","path":"/spec/list/0/x","value":1}]`, "", `cannot address "x" inside a number`},
		{"test fails", `[{"op":"test","path":"/spec/list/0","value":2}]`, "", "test failed"},
		{"remove root", `[{"op":"remove","path":""}]`, "", "cannot remove the whole document"},
		{"no value", `[{"op":"add","path":"/spec/x"}]`, "", "has no value"},
		{"no path", `[{"op":"add","value":1}]`, "", "has no path"},
		{"unsupported op", `[{"op":"move","from":"/spec","path":"/x"}]`, "", `unsupported op "move"`},
		{"pointer without slash", `[{"op":"add","path":"spec","value":1}]`, "", "does not start with /"},
		{"bad escape", `[{"op":"add","path":"/spec/a~2","value":1}]`, "", "~ must be followed by 0 or 1"},
		{"trailing tilde", `[{"op":"add","path":"/spec/a~","value":1}]`, "", "~ must be followed by 0 or 1"},
		{"not a patch", `{"op":"add"}`, "", "malformed JSONPatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyPatch([]byte(doc), []byte(tc.patch))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tc.want)) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParsePointer(t *testing.T) {
	toks, err := parsePointer("/a~1b/~01/~10//x")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(toks, "|"); got != "a/b|~1|/0||x" {
		t.Errorf("tokens %q", got)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
