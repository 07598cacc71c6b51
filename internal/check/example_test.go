package check_test

import (
	"fmt"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Run is the one pass `ork validate` and the gateway's start-up share: every
// check runs, findings come sorted by position, and a Policy is compiled
// only when no finding is an error.
func ExampleRun() {
	f, errs := katalog.Parse("katalog.yaml", []byte(`apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: platform-guard
security:
  deletionProtection:
    failurePolicy: Retry
`))
	res := check.Run(f, errs)
	for _, finding := range res.Findings {
		fmt.Println(finding)
	}
	fmt.Println("compiled:", res.Policy != nil)
	// Output:
	// katalog.yaml:7:5: error K15 failure-policy: failurePolicy "Retry" is not Fail or Ignore (use "Fail" or "Ignore")
	// compiled: false
}
