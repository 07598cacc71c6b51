package rules

import "text/template/parse"

// FieldRefs lists the field chains a template reads from the root object:
// .spec.size gives [spec size], $.spec.x gives [spec x], and
// index .spec.labels "a" gives [spec labels a]. Inside with and range,
// where dot is something else, only $ chains count.
func FieldRefs(root parse.Node) [][]string {
	var out [][]string
	chain := func(n parse.Node, dotIsRoot bool) []string {
		switch n := n.(type) {
		case *parse.FieldNode:
			if dotIsRoot {
				return n.Ident
			}
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				return n.Ident[1:]
			}
		}
		return nil
	}
	var walk func(n parse.Node, dotIsRoot bool)
	walk = func(n parse.Node, dotIsRoot bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c, dotIsRoot)
			}
		case *parse.ActionNode:
			walk(n.Pipe, dotIsRoot)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c, dotIsRoot)
			}
		case *parse.CommandNode:
			// index X "k1" "k2" reads X.k1.k2 when the keys are literals.
			if len(n.Args) >= 3 && isIdentNode(n.Args[0], "index") {
				if c := chain(n.Args[1], dotIsRoot); c != nil {
					keys := append([]string(nil), c...)
					literal := true
					for _, a := range n.Args[2:] {
						s, ok := a.(*parse.StringNode)
						if !ok {
							literal = false
							break
						}
						keys = append(keys, s.Text)
					}
					if literal {
						out = append(out, keys)
						return
					}
				}
			}
			for _, a := range n.Args {
				walk(a, dotIsRoot)
			}
		case *parse.FieldNode, *parse.VariableNode:
			if c := chain(n, dotIsRoot); c != nil {
				out = append(out, c)
			}
		case *parse.ChainNode:
			walk(n.Node, dotIsRoot)
		case *parse.IfNode:
			walk(n.Pipe, dotIsRoot)
			walk(n.List, dotIsRoot)
			walk(n.ElseList, dotIsRoot)
		case *parse.WithNode:
			walk(n.Pipe, dotIsRoot)
			walk(n.List, false)
			walk(n.ElseList, dotIsRoot)
		case *parse.RangeNode:
			walk(n.Pipe, dotIsRoot)
			walk(n.List, false)
			walk(n.ElseList, dotIsRoot)
		case *parse.TemplateNode:
			walk(n.Pipe, dotIsRoot)
		}
	}
	walk(root, true)
	return out
}

func isIdentNode(n parse.Node, name string) bool {
	id, ok := n.(*parse.IdentifierNode)
	return ok && id.Ident == name
}
