package conversion

import "testing"

func TestTestdataKatalogIsValid(t *testing.T) {
	p := loadPolicy(t, "katalog.yaml")
	if len(p.CRDs) != 1 || p.CRDs[0].Conversion == nil {
		t.Fatalf("expected one CRD with conversion, got %+v", p.CRDs)
	}
	t.Logf("%+v", *p.CRDs[0].Conversion)
}
