package conversion_test

import (
	"encoding/json"
	"fmt"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Convert converts one object as /convert would: the path's mapping sets
// the target fields from templates over the source (numbers stay numbers),
// fields a template reads are moved, everything else is carried over.
func ExampleConverter_Convert() {
	f, errs := katalog.Parse("katalog.yaml", []byte(`apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: shop
spec:
  crds:
    website:
      apiTypes: {group: web.example.com, version: v2, kind: Website, plural: websites}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        paths:
          - from: v1
            to: v2
            spec:
              replicas: "{{ .spec.size }}"
          - from: v2
            to: v1
            spec:
              size: "{{ .spec.replicas }}"
`))
	res := check.Run(f, errs)
	if res.Policy == nil {
		fmt.Println(res.Findings)
		return
	}
	c, err := conversion.New(res.Policy, conversion.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := c.Convert(map[string]any{
		"apiVersion": "web.example.com/v1",
		"kind":       "Website",
		"metadata":   map[string]any{"name": "shop", "namespace": "web"},
		"spec":       map[string]any{"size": int64(3), "domain": "shop.example.com"},
	}, "web.example.com/v2")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	// Output:
	// {"apiVersion":"web.example.com/v2","kind":"Website","metadata":{"name":"shop","namespace":"web"},"spec":{"domain":"shop.example.com","replicas":3}}
}
