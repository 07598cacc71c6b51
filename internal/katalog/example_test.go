package katalog_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Load reports every schema problem with its line and column, and a hint
// where one helps; the file is decoded as far as the input allows.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "katalog")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "katalog.yaml")
	_ = os.WriteFile(path, []byte(`apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: platform-guard
security:
  deletionProtection:
    enabled: true
    failurPolicy: Fail
`), 0o644)

	f, errs, err := katalog.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("name:", f.Katalog.Metadata.Name)
	for _, e := range errs {
		fmt.Printf("%s: %s (%s)\n", e.Pos, e.Msg, e.Hint)
	}
	// Output:
	// name: platform-guard
	// 8:5: unknown field "failurPolicy" in security.deletionProtection (did you mean "failurePolicy"?)
}
