package install

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
)

// TestKustomize builds an overlay on the directory `ork generate bundle -o
// DIR` writes (its kustomization.yaml makes it a base) with kustomize's
// krusty, applies the result to the API server, and runs the gateway under
// it.
func TestKustomize(t *testing.T) {
	in := newInstall(t, "kust-guard")
	b, err := bundle.Generate(in.src, bundle.Options{Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := b.WriteDir(filepath.Join(root, "base")); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(root, "overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	// What an overlay of a platform team does: a mirror of the image, a
	// toleration and a label on the pods.
	kust := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
images:
  - name: registry.example.com/orkestra-gateway
    newName: mirror.example.com/orkestra-gateway
patches:
  - target: {kind: Deployment, name: orkestra-gateway}
    patch: |
      - op: add
        path: /spec/template/spec/tolerations
        value: [{key: infra, operator: Exists, effect: NoSchedule}]
      - op: add
        path: /spec/template/metadata/labels/team
        value: platform
`
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	y, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs := manifests(t, string(y))
	if len(objs) != len(b.Objects) {
		t.Errorf("kustomize built %d objects (%s), want the bundle's %d", len(objs), names(objs), len(b.Objects))
	}
	d := deploymentOf(t, objs)
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "mirror.example.com/orkestra-gateway:v0.0.0-install@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %s", img)
	}
	if len(d.Spec.Template.Spec.Tolerations) != 1 || d.Spec.Template.Labels["team"] != "platform" {
		t.Errorf("the overlay's patch is missing: %v %v", d.Spec.Template.Spec.Tolerations, d.Spec.Template.Labels)
	}

	// kubectl apply --server-side -k overlay: the Namespace is among them.
	in.apply(t, objs)
	g := in.run(t)
	g.protects(t)
}
