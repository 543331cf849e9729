package store_test

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

// TestSQLStaysInStore holds the code outside store to what issue 15 asked:
// passerelle's SQL lives in this package, so a schema change is made here
// alone. No other package's non-test code imports database/sql or reaches
// the pool through DB.SQL (internal/storetest, a test helper, may).
func TestSQLStaysInStore(t *testing.T) {
	root := ".."
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case path == root:
			case rel == "store", rel == filepath.Join("internal", "storetest"), strings.HasPrefix(d.Name(), "."),
				d.Name() == "node_modules", d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "database/sql" {
				offenders = append(offenders, rel+": imports database/sql")
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "SQL" && len(call.Args) == 0 {
					offenders = append(offenders, rel+": calls .SQL()")
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offenders) > 0 {
		t.Errorf("SQL outside store (move the query behind a store method):\n%s", strings.Join(offenders, "\n"))
	}
}
