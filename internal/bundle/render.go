package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// anyItem in an order path matches every item of a sequence.
type anyItem struct{}

// order puts the keys of the mappings at path first, in this order, so the
// output reads like a hand-written manifest rather than in Go struct order.
type order struct {
	path []any
	keys []string
}

// note is a comment attached to the node at path inside one object: path
// elements are mapping keys (string) or sequence indexes (int). A note on a
// mapping value is written above its key; on a sequence item, above the item.
type note struct {
	path []any
	text string
}

// render writes one object as a YAML document with comments: head above the
// document, notes at their paths. The object is marshalled to JSON first, so
// field names and omitempty are exactly the API's; JSON keeps the Go struct
// order of fields (apiVersion, kind, metadata, spec) and sorts map keys,
// which makes the output deterministic. Top-level status and null fields
// (creationTimestamp: null) are dropped: they are not part of what a user
// applies.
//
// The result is checked by decoding it the way kubectl does (sigs.k8s.io/yaml,
// YAML 1.1 rules): it must give back the JSON it was rendered from.
func render(obj any, head string, notes []note, orders []order) ([]byte, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("re-reading %T: %w", obj, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%T does not encode as an object", obj)
	}
	root := doc.Content[0]
	dropKey(root, "status")
	if spec := value(root, "spec"); spec != nil && spec.Kind == yaml.MappingNode && len(spec.Content) == 0 {
		dropKey(root, "spec") // spec: {} of a Namespace
	}
	prune(root)
	restyle(root)
	nameFirst(root)
	orders = append([]order{
		{nil, []string{"apiVersion", "kind", "metadata"}},
		{[]any{"metadata"}, []string{"name", "namespace", "labels", "annotations"}},
	}, orders...)
	for _, o := range orders {
		for _, m := range match(root, o.path) {
			reorder(m, o.keys)
		}
	}
	for _, n := range notes {
		target, key, err := lookup(root, n.path)
		if err != nil {
			return nil, fmt.Errorf("comment on %T: %w", obj, err)
		}
		// Above a mapping key, or above a sequence item.
		at := target
		if key != nil {
			at = key
		}
		at.HeadComment = joinComment(at.HeadComment, wrap(n.text))
	}
	// On the first key rather than the document: no blank line after it.
	root.Content[0].HeadComment = joinComment(wrap(head), root.Content[0].HeadComment)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("writing %T: %w", obj, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if err := sameAsJSON(buf.Bytes(), js); err != nil {
		return nil, fmt.Errorf("%T: %w", obj, err)
	}
	return buf.Bytes(), nil
}

// sameAsJSON checks that y, read as kubectl reads YAML, is the JSON document
// js minus what render drops (status, an empty spec, nulls).
func sameAsJSON(y, js []byte) error {
	got, err := sigsyaml.YAMLToJSON(y)
	if err != nil {
		return fmt.Errorf("the rendered YAML does not parse: %w", err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(js, &b); err != nil {
		return err
	}
	if m, ok := b.(map[string]any); ok {
		delete(m, "status")
		if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
			delete(m, "spec")
		}
	}
	b = withoutNulls(b)
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("the rendered YAML reads back differently:\n%s", y)
	}
	return nil
}

func withoutNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = withoutNulls(e)
		}
	case []any:
		for i := range t {
			t[i] = withoutNulls(t[i])
		}
	}
	return v
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// match returns the nodes at path, anyItem standing for every item.
func match(n *yaml.Node, path []any) []*yaml.Node {
	if len(path) == 0 {
		return []*yaml.Node{n}
	}
	switch p := path[0].(type) {
	case string:
		if n.Kind == yaml.MappingNode {
			if v := value(n, p); v != nil {
				return match(v, path[1:])
			}
		}
	case anyItem:
		if n.Kind == yaml.SequenceNode {
			var out []*yaml.Node
			for _, c := range n.Content {
				out = append(out, match(c, path[1:])...)
			}
			return out
		}
	}
	return nil
}

// reorder moves keys to the front of mapping m, in the given order; the
// others keep their order after them.
func reorder(m *yaml.Node, keys []string) {
	if m.Kind != yaml.MappingNode {
		return
	}
	out := make([]*yaml.Node, 0, len(m.Content))
	taken := map[int]bool{}
	for _, k := range keys {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !taken[i] && m.Content[i].Value == k {
				out = append(out, m.Content[i], m.Content[i+1])
				taken[i] = true
			}
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !taken[i] {
			out = append(out, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = out
}

// nameFirst puts "name" first in every mapping that is a sequence item
// (containers, ports, env, volumes), as manifests are usually written.
func nameFirst(n *yaml.Node) {
	for _, c := range n.Content {
		if n.Kind == yaml.SequenceNode {
			reorder(c, []string{"name"})
		}
		nameFirst(c)
	}
}

// wrap breaks lines longer than 80 columns at spaces; lines that start with
// a space (examples, lists) are kept as written.
func wrap(text string) string {
	const width = 80
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for len(line) > width && !strings.HasPrefix(line, " ") {
			i := strings.LastIndexByte(line[:width+1], ' ')
			if i <= 0 {
				break
			}
			out = append(out, line[:i])
			line = line[i+1:]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func dropKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// prune removes mapping entries whose value is null.
func prune(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1]; v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		prune(c)
	}
}

// restyle turns JSON's flow style into block style. Strings are left plain
// where yaml.v3 finds that safe, except the words YAML 1.1 (and so kubectl)
// reads as booleans or null; multi-line strings become literal blocks
// (yaml.v3 falls back to quoting when a block cannot hold the text exactly).
func restyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		switch {
		case strings.Contains(n.Value, "\n"):
			n.Style = yaml.LiteralStyle
		case yaml11Special(n.Value):
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		restyle(c)
	}
}

// yaml11Special reports whether a plain scalar would not read back as this
// string under YAML 1.1 (booleans like yes/no/on/off, null, and numbers in
// forms YAML 1.2 no longer has).
func yaml11Special(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", "":
		return true
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return true
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		return true
	}
	return false
}

// lookup finds the node at path; for a mapping value it also returns its key node.
func lookup(root *yaml.Node, path []any) (node, key *yaml.Node, err error) {
	node = root
	for i, p := range path {
		switch p := p.(type) {
		case string:
			if node.Kind != yaml.MappingNode {
				return nil, nil, fmt.Errorf("path %v: element %d (%q) is not in a mapping", path, i, p)
			}
			found := false
			for j := 0; j+1 < len(node.Content); j += 2 {
				if node.Content[j].Value == p {
					key, node, found = node.Content[j], node.Content[j+1], true
					break
				}
			}
			if !found {
				return nil, nil, fmt.Errorf("path %v: no key %q", path, p)
			}
		case int:
			if node.Kind != yaml.SequenceNode || p < 0 || p >= len(node.Content) {
				return nil, nil, fmt.Errorf("path %v: no item %d", path, p)
			}
			key, node = nil, node.Content[p]
		default:
			return nil, nil, fmt.Errorf("path %v: element %d has type %T", path, i, p)
		}
	}
	return node, key, nil
}

func joinComment(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
