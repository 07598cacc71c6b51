package conversion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orkspace/orkestra-gateway/internal/fastjson"
)

// API version and kind of the only ConversionReview accepted and answered.
const (
	reviewAPIVersion = "apiextensions.k8s.io/v1"
	reviewKind       = "ConversionReview"
)

// request is the part of a ConversionReview the converter reads. Objects
// stay raw until each is converted.
type request struct {
	UID               types.UID
	DesiredAPIVersion string
	Objects           []json.RawMessage
}

// wireReview has no response: the API server sends an empty one along
// with the request, and it is ignored.
type wireReview struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Request    *wireRequest `json:"request"`
}

type wireRequest struct {
	UID               types.UID         `json:"uid"`
	DesiredAPIVersion string            `json:"desiredAPIVersion"`
	Objects           []json.RawMessage `json:"objects"`
}

// decodeReview decodes an apiextensions.k8s.io/v1 ConversionReview request;
// the error says precisely what is wrong. The objects stay slices of body
// on the fast path (fastReview); anything it leaves to encoding/json (a
// malformed body, a repeated key) is decoded there, which words the error.
func decodeReview(body []byte) (*request, error) {
	w, ok := fastReview(body)
	if !ok {
		w = &wireReview{}
		if err := json.Unmarshal(body, w); err != nil {
			return nil, fastjson.UnmarshalError("ConversionReview", err)
		}
	}
	if w.APIVersion != reviewAPIVersion || w.Kind != reviewKind {
		return nil, fmt.Errorf("expected apiVersion %s, kind %s; got apiVersion %q, kind %q", reviewAPIVersion, reviewKind, w.APIVersion, w.Kind)
	}
	r := w.Request
	switch {
	case r == nil:
		return nil, errors.New("ConversionReview has no request")
	case r.UID == "":
		return nil, errors.New("request.uid is empty")
	case r.DesiredAPIVersion == "":
		return nil, errors.New("request.desiredAPIVersion is empty")
	}
	if _, _, err := splitAPIVersion(r.DesiredAPIVersion); err != nil {
		return nil, fmt.Errorf("request.desiredAPIVersion: %v", err)
	}
	for i, o := range r.Objects {
		if t := bytes.TrimSpace(o); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("request.objects[%d] is not a JSON object", i)
		}
	}
	return &request{UID: r.UID, DesiredAPIVersion: r.DesiredAPIVersion, Objects: r.Objects}, nil
}

// fastReview decodes a ConversionReview as json.Unmarshal into wireReview
// would, in one pass, with the objects as slices of body instead of
// copies. It gives up (ok false) on anything unusual: invalid JSON, a field
// of another type, a key repeated or matching a field only
// case-insensitively. A fuzz test holds it to json.Unmarshal.
func fastReview(body []byte) (w *wireReview, ok bool) {
	d := fastjson.NewDecoder(body)
	w = &wireReview{}
	if reviewFields.Read(d, w); !d.End() {
		return nil, false
	}
	return w, true
}

var (
	reviewFields = fastjson.Fields[wireReview]{
		{Name: "apiVersion", Read: func(d *fastjson.Decoder, w *wireReview) { fastjson.ReadString(d, &w.APIVersion) }},
		{Name: "kind", Read: func(d *fastjson.Decoder, w *wireReview) { fastjson.ReadString(d, &w.Kind) }},
		{Name: "request", Read: func(d *fastjson.Decoder, w *wireReview) {
			if d.Null() {
				w.Request = nil
				return
			}
			w.Request = &wireRequest{}
			requestFields.Read(d, w.Request)
		}},
	}
	requestFields = fastjson.Fields[wireRequest]{
		{Name: "uid", Read: func(d *fastjson.Decoder, r *wireRequest) { fastjson.ReadString(d, &r.UID) }},
		{Name: "desiredAPIVersion", Read: func(d *fastjson.Decoder, r *wireRequest) { fastjson.ReadString(d, &r.DesiredAPIVersion) }},
		{Name: "objects", Read: func(d *fastjson.Decoder, r *wireRequest) {
			if d.Null() {
				r.Objects = nil
				return
			}
			if !d.Array() {
				return
			}
			r.Objects = []json.RawMessage{}
			var started bool
			for d.Element(&started) {
				r.Objects = append(r.Objects, d.Skip())
			}
		}},
	}
)

// splitAPIVersion splits group/version; CRDs always have a group.
func splitAPIVersion(av string) (group, version string, err error) {
	group, version, ok := strings.Cut(av, "/")
	if !ok || group == "" || version == "" || strings.Contains(version, "/") {
		return "", "", fmt.Errorf("%q is not group/version", av)
	}
	return group, version, nil
}

// Review converts every object of req to req.DesiredAPIVersion. The
// response holds all of them, or none and a Failure naming the first
// object that could not be converted, its versions and the cause. It is
// the code path of /convert and of `ork gateway convert`.
func (c *Converter) Review(req *apiextv1.ConversionRequest) *apiextv1.ConversionResponse {
	if req == nil {
		return failure("", "the ConversionReview has no request")
	}
	r := &request{UID: req.UID, DesiredAPIVersion: req.DesiredAPIVersion, Objects: make([]json.RawMessage, len(req.Objects))}
	for i, o := range req.Objects {
		raw := o.Raw
		if raw == nil && o.Object != nil {
			b, err := json.Marshal(o.Object)
			if err != nil {
				return failure(req.UID, fmt.Sprintf("object %d cannot be encoded: %v", i, err))
			}
			raw = b
		}
		r.Objects[i] = raw
	}
	if _, _, err := splitAPIVersion(r.DesiredAPIVersion); err != nil {
		return failure(req.UID, "desiredAPIVersion: "+err.Error())
	}
	return c.review(r)
}

func failure(uid types.UID, msg string) *apiextv1.ConversionResponse {
	return &apiextv1.ConversionResponse{UID: uid, Result: metav1.Status{Status: metav1.StatusFailure, Message: msg}}
}

// review converts a decoded request.
func (c *Converter) review(r *request) *apiextv1.ConversionResponse {
	converted := make([]runtime.RawExtension, len(r.Objects))
	var succeeded map[*pairSeries]float64 // counted once the whole review succeeds
	for i, raw := range r.Objects {
		start := c.now()
		out, labels, err := c.convertOne(raw, r.DesiredAPIVersion, i, len(r.Objects))
		ps := c.m.pairs[labelsKey(labels)]
		if ps != nil {
			ps.latency.Observe(c.now().Sub(start).Seconds())
		}
		if err != nil {
			if ps != nil {
				ps.failure.Inc()
			}
			c.m.results[resultFailure].Inc()
			c.log.Warn("conversion failed", "uid", string(r.UID), "desiredAPIVersion", r.DesiredAPIVersion, "objects", len(r.Objects), "err", err.Error())
			return failure(r.UID, err.Error())
		}
		converted[i] = runtime.RawExtension{Raw: out}
		if ps != nil {
			if succeeded == nil {
				succeeded = map[*pairSeries]float64{}
			}
			succeeded[ps]++
		}
	}
	for ps, n := range succeeded {
		ps.success.Add(n)
	}
	c.m.results[resultSuccess].Inc()
	return &apiextv1.ConversionResponse{UID: r.UID, ConvertedObjects: converted, Result: metav1.Status{Status: metav1.StatusSuccess}}
}

// labelsKey is the key of an object's series; the zero key (no series)
// when its labels are unknown.
func labelsKey(labels *[4]string) [4]string {
	if labels == nil {
		return [4]string{}
	}
	return *labels
}

// convertOne converts the i-th of n objects. labels (group, kind, from, to)
// are set once the object is known to belong to a Katalog CRD, so metric
// labels never carry arbitrary input.
func (c *Converter) convertOne(raw []byte, desired string, i, n int) ([]byte, *[4]string, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("object %d of %d is malformed: %v", i+1, n, err)
	}
	ref := objectRef(obj, i, n)
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group, from, err := splitAPIVersion(av)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: apiVersion: %v", ref, err)
	}
	if kind == "" {
		return nil, nil, fmt.Errorf("%s: kind is missing", ref)
	}
	ref = kind + " " + ref
	dgroup, to, _ := splitAPIVersion(desired)
	if dgroup != group {
		return nil, nil, fmt.Errorf("converting %s from %s to %s: the groups differ; conversion changes the version only", ref, av, desired)
	}
	pl := c.plans[groupKind{group, kind}]
	if pl == nil {
		return nil, nil, fmt.Errorf("converting %s from %s to %s: no Katalog CRD entry with a conversion block has kind %s in group %s", ref, av, desired, kind, group)
	}
	labels := &[4]string{group, kind, from, to}
	for _, v := range []string{from, to} {
		if !slices.Contains(pl.versions, v) {
			labels = nil // not a label value the Katalog declared
		}
	}
	out, oc, err := pl.convert(obj, from, to, c.key(), c.maxPreserved)
	ks := c.m.kinds[groupKind{group, kind}] // pl exists: so does ks
	if oc.ignored != nil {
		reason := reasonMalformed
		if ue, ok := oc.ignored.(*unsealError); ok {
			reason = ue.reason
		}
		ks.invalid[reason].Inc()
		c.log.Warn("ignoring the "+PreservedAnnotation+" annotation ("+reason+"): nothing of it is restored",
			"object", ref, "from", av, "to", desired, "reason", reason, "err", oc.ignored.Error())
	}
	if len(oc.refused) > 0 {
		paths := make([]string, len(oc.refused))
		for j, f := range oc.refused {
			paths[j] = dotted(f.Path)
		}
		ks.invalid[reasonOutOfScope].Inc()
		c.log.Warn("ignoring fields of the "+PreservedAnnotation+" annotation that the conversion does not drop",
			"object", ref, "from", av, "to", desired, "reason", reasonOutOfScope, "fields", paths)
	}
	if err != nil {
		return nil, labels, fmt.Errorf("converting %s from %s to %s: %v", ref, av, desired, err)
	}
	if len(oc.dropped) > 0 {
		paths := make([]string, len(oc.dropped))
		for j, f := range oc.dropped {
			paths[j] = dotted(f.Path)
		}
		ks.dropped.Add(float64(len(oc.dropped)))
		c.log.Warn(fmt.Sprintf("preserved fields exceed %d bytes; dropping them, so converting back cannot restore them", c.maxPreserved),
			"object", ref, "from", av, "to", desired, "dropped", paths)
	}
	b, err := encodeValue(out)
	if err != nil {
		return nil, labels, fmt.Errorf("converting %s from %s to %s: encoding the result: %v", ref, av, desired, err)
	}
	return b, labels, nil
}

// objectRef names an object for messages: "namespace/name" (object i of n).
func objectRef(obj map[string]any, i, n int) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if name == "" {
		name, _ = meta["generateName"].(string)
		if name != "" {
			name += "*"
		}
	}
	switch {
	case name == "":
		name = "(unnamed)"
	case ns != "":
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s (object %d of %d)", name, i+1, n)
}

// Convert converts one object (decoded JSON, numbers as int64 or float64)
// to desiredAPIVersion, as /convert would; obj is not modified.
func (c *Converter) Convert(obj map[string]any, desiredAPIVersion string) (map[string]any, error) {
	raw, err := encodeValue(obj)
	if err != nil {
		return nil, fmt.Errorf("object cannot be encoded: %v", err)
	}
	if _, _, err := splitAPIVersion(desiredAPIVersion); err != nil {
		return nil, fmt.Errorf("desired apiVersion: %v", err)
	}
	resp := c.review(&request{UID: "local", DesiredAPIVersion: desiredAPIVersion, Objects: []json.RawMessage{raw}})
	if resp.Result.Status != metav1.StatusSuccess {
		return nil, errors.New(resp.Result.Message)
	}
	return decodeObject(resp.ConvertedObjects[0].Raw)
}
