package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

const katalogDoc = "../../docs/katalog.md"

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(katalogDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// yamlFields returns every YAML key of the Katalog model, reached from the
// root by reflection, each with the Go type that declares it.
func yamlFields() map[string][]string {
	fields := map[string][]string{}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name != "" && !strings.Contains(opts, "inline") {
				fields[name] = append(fields[name], t.Name())
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[katalog.Katalog]())
	return fields
}

// Every key of the Katalog is documented in a field table of docs/katalog.md.
func TestDocsKatalogFields(t *testing.T) {
	doc := readDoc(t)
	documented := map[string]bool{}
	cell := regexp.MustCompile("^\\| *`([A-Za-z0-9]+)`")
	for _, line := range strings.Split(doc, "\n") {
		if m := cell.FindStringSubmatch(line); m != nil {
			documented[m[1]] = true
		}
	}
	fields := yamlFields()
	if len(fields) < 50 {
		t.Fatalf("found %d YAML fields in the Katalog model; the reflection walk is broken", len(fields))
	}
	var missing []string
	for name, types := range fields {
		if !documented[name] {
			missing = append(missing, name+" (in "+strings.Join(types, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s has no field-table row (| `name` | ...) for:\n  %s", katalogDoc, strings.Join(missing, "\n  "))
	}
	for _, op := range katalog.Operators {
		if !documented[op] {
			t.Errorf("%s does not document operator %q in a table", katalogDoc, op)
		}
	}
}

// Every check has a section headed "### Kxx name", with a failing example
// and its fix.
func TestDocsChecks(t *testing.T) {
	doc := readDoc(t)
	sections := checkSections(doc)
	for _, c := range check.Checks {
		body, ok := sections[c.ID]
		if !ok {
			t.Errorf("%s has no section \"### %s %s\"", katalogDoc, c.ID, c.Name)
			continue
		}
		if body.name != c.Name {
			t.Errorf("%s: section for %s is named %q, want %q", katalogDoc, c.ID, body.name, c.Name)
		}
		if !strings.Contains(body.text, "```yaml") || !strings.Contains(body.text, " "+c.ID+" "+c.Name+": ") {
			t.Errorf("%s: section %s needs a YAML example and the finding it produces (\"... %s %s: ...\")", katalogDoc, c.ID, c.ID, c.Name)
		}
		if !strings.Contains(strings.ToLower(body.text), "fix") {
			t.Errorf("%s: section %s does not say how to fix the failure", katalogDoc, c.ID)
		}
	}
	for id := range sections {
		if !slices.ContainsFunc(check.Checks, func(c check.Info) bool { return c.ID == id }) {
			t.Errorf("%s documents unknown check %s", katalogDoc, id)
		}
	}
}

type section struct{ name, text string }

// checkSections splits the doc at "### Kxx name" headings.
func checkSections(doc string) map[string]section {
	head := regexp.MustCompile(`(?m)^### (K[0-9]{2}) ([a-z0-9-]+)\s*$`)
	out := map[string]section{}
	idx := head.FindAllStringSubmatchIndex(doc, -1)
	for i, m := range idx {
		end := len(doc)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		// A later heading of another level also ends the section.
		text := doc[m[1]:end]
		if j := strings.Index(text, "\n## "); j >= 0 {
			text = text[:j]
		}
		out[doc[m[2]:m[3]]] = section{name: doc[m[4]:m[5]], text: text}
	}
	return out
}

// The failing example of every check really fails with the finding the docs
// show: each section's first ```yaml block is a whole Katalog (written to
// katalog.yaml, with any file it names under ```yaml path=...``` blocks), and
// each line of its ```text block must appear in the output of ork validate.
func TestDocsCheckExamples(t *testing.T) {
	doc := readDoc(t)
	bin := toolchain(t)
	block := regexp.MustCompile("(?s)```(yaml|text)([^\n]*)\n(.*?)```")
	for id, s := range checkSections(doc) {
		t.Run(id, func(t *testing.T) {
			dir := t.TempDir()
			var katalogYAML string
			var want []string
			for _, m := range block.FindAllStringSubmatch(s.text, -1) {
				lang, info, body := m[1], strings.TrimSpace(m[2]), m[3]
				switch {
				case lang == "yaml" && strings.HasPrefix(info, "path="):
					path := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(info, "path=")))
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				case lang == "yaml" && katalogYAML == "":
					katalogYAML = body
				case lang == "text" && want == nil:
					want = strings.Split(strings.TrimSpace(body), "\n")
				}
			}
			if katalogYAML == "" || want == nil {
				t.Fatalf("section %s needs a ```yaml Katalog and a ```text block with its findings", id)
			}
			if err := os.WriteFile(filepath.Join(dir, "katalog.yaml"), []byte(katalogYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runBin(t, bin, dir, "validate")
			if r.code == exitUsage {
				t.Fatalf("ork validate: %s", r.stderr)
			}
			found := false
			for _, w := range want {
				if !strings.Contains(r.stdout, w+"\n") {
					t.Errorf("ork validate output lacks the documented line\n  %s\ngot:\n%s", w, r.stdout)
				}
				found = found || strings.Contains(w, " "+id+" ")
			}
			if !found {
				t.Errorf("the documented findings of %s show no %s finding", id, id)
			}
		})
	}
}
