package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// errorKey is the one log key for errors, in every log line of the project.
const errorKey = "err"

// logMethods are the calls whose arguments are log attributes: log/slog's
// methods and functions, and the project's rate-limited wrappers.
var logMethods = map[string]bool{
	"Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true, "LogAttrs": true,
	"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true,
	"With": true, "badRequest": true,
}

// Every log line names an error with the same key, so one query finds
// every error in the logs: a source scan of every Go file of the project
// (the hack/ modules included). It flags an "error" key anywhere (a string
// literal "error" followed by another argument of a call is a key: label
// values and messages are last), and, in a log call, an error value (err,
// x.err, x.Error()) under any key but errorKey.
func TestOneLogKeyForErrors(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || name == "node_modules" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			for _, a := range call.Args[:max(len(call.Args)-1, 0)] {
				if key, ok := stringLit(a); ok && key == "error" {
					t.Errorf("%s: log key %q; errors are logged under %q", fset.Position(a.Pos()), key, errorKey)
				}
			}
			if !isLogCall(call) {
				return true
			}
			// The attributes of a log call, and of the appends that build them.
			ast.Inspect(call, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				for i := 0; i+1 < len(c.Args); i++ {
					key, ok := stringLit(c.Args[i])
					if ok && key != errorKey && isErrorValue(c.Args[i+1]) {
						t.Errorf("%s: an error logged under %q; use %q", fset.Position(c.Args[i].Pos()), key, errorKey)
					}
				}
				return true
			})
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("scanned %d files: the walk missed the project", files)
	}
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func isLogCall(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && logMethods[sel.Sel.Name]
}

// isErrorValue recognises the usual spellings of an error value: err,
// fooErr, x.err, and x.Error().
func isErrorValue(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name == "err" || strings.HasSuffix(v.Name, "Err")
	case *ast.SelectorExpr:
		return v.Sel.Name == "err"
	case *ast.CallExpr:
		sel, ok := v.Fun.(*ast.SelectorExpr)
		return ok && sel.Sel.Name == "Error" && len(v.Args) == 0
	}
	return false
}
