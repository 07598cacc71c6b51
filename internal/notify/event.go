package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of one request.
const (
	// maxBodyBytes bounds a /notify body; larger bodies are answered 413.
	maxBodyBytes = 64 << 10
	// maxSubjectBytes and maxMessageBytes cap the event's own subject and
	// message (text, never templates).
	maxSubjectBytes = 2 << 10
	maxMessageBytes = 16 << 10
	maxNameBytes    = 253 // katalogName, crName, teams: Kubernetes name length
	maxKeyBytes     = 512 // condKey, id, gvk
)

// Severities an event may carry.
var severities = []string{"info", "warning", "critical"}

// event is one /notify request, with the JSON names of its fields.
type event struct {
	ID          string // optional idempotency key
	KatalogName string
	CRName      string
	CRNamespace string // "" for a cluster-scoped object
	GVK         string // as sent, or "group/version/Kind" from an object
	CondKey     string
	Teams       []string // teamName, or teams[]
	Subject     string
	Message     string // may be empty: the team's or the default template says what to send
	Severity    string
	Timestamp   time.Time      // now when absent
	Data        map[string]any // free-form, for templates
}

// fieldError is one problem with one field of a request.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String formats e as field: message.
func (e fieldError) String() string { return e.Field + ": " + e.Message }

// decodeError is a request body that is not a valid event: either not a
// JSON object at all (Fields empty), or an object with field errors, every
// one of them listed.
type decodeError struct {
	Msg    string
	Fields []fieldError
}

// Error is the message, then every field error.
func (e *decodeError) Error() string {
	if len(e.Fields) == 0 {
		return e.Msg
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return e.Msg + ": " + strings.Join(parts, "; ")
}

// decodeEvent parses and validates a request body. now fills in a missing
// timestamp. Unknown fields are ignored, so a newer Runtime can add fields
// without breaking an older gateway. Every error is a *decodeError.
func decodeEvent(body []byte, now time.Time) (*event, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, &decodeError{Msg: "the body is not a JSON object: " + jsonProblem(err, body)}
	}
	if raw == nil {
		return nil, &decodeError{Msg: "the body is not a JSON object: null"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &decodeError{Msg: "the body has data after the JSON object"}
	}

	d := fieldDecoder{raw: raw}
	ev := &event{
		ID:          d.str("id"),
		KatalogName: d.str("katalogName"),
		CRName:      d.str("crName"),
		CRNamespace: d.str("crNamespace"),
		GVK:         d.gvk("gvk"),
		CondKey:     d.str("condKey"),
		Subject:     d.str("subject"),
		Message:     d.str("message"),
		Severity:    d.str("severity"),
		Data:        d.object("data"),
	}
	teamName := d.str("teamName")
	teams := d.strings("teams")
	ts := d.str("timestamp")

	d.required("katalogName", ev.KatalogName, maxNameBytes)
	d.required("crName", ev.CRName, maxNameBytes)
	d.optional("crNamespace", ev.CRNamespace, 63)
	d.required("gvk", ev.GVK, maxKeyBytes)
	d.required("condKey", ev.CondKey, maxKeyBytes)
	d.required("subject", ev.Subject, maxSubjectBytes)
	d.optional("message", ev.Message, maxMessageBytes)
	d.optional("id", ev.ID, maxKeyBytes)
	switch {
	case !d.present("severity"):
		d.add("severity", "is required (one of "+strings.Join(severities, ", ")+")")
	case d.ok("severity") && !contains(severities, ev.Severity):
		d.add("severity", fmt.Sprintf("%q is not one of %s", clip(ev.Severity, 64), strings.Join(severities, ", ")))
	}

	switch {
	case d.present("teamName") && d.present("teams"):
		d.add("teams", "give teamName or teams, not both")
	case d.present("teamName"):
		if d.ok("teamName") {
			if msg := nameProblem(teamName); msg != "" {
				d.add("teamName", msg)
			} else {
				ev.Teams = []string{teamName}
			}
		}
	case d.present("teams"):
		if d.ok("teams") {
			if len(teams) == 0 {
				d.add("teams", "must name at least one team")
			}
			seen := map[string]bool{}
			for i, t := range teams {
				f := fmt.Sprintf("teams[%d]", i)
				switch msg := nameProblem(t); {
				case msg != "":
					d.add(f, msg)
				case seen[t]:
					d.add(f, fmt.Sprintf("team %q is listed twice", t))
				default:
					seen[t] = true
					ev.Teams = append(ev.Teams, t)
				}
			}
		}
	default:
		d.add("teamName", "is required (or teams)")
	}

	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			d.add("timestamp", fmt.Sprintf("%q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", clip(ts, 64)))
		}
		ev.Timestamp = t
	} else {
		ev.Timestamp = now
	}

	if len(d.errs) > 0 {
		return nil, &decodeError{Msg: fmt.Sprintf("the event has %d invalid field(s)", len(d.errs)), Fields: d.errs}
	}
	return ev, nil
}

// jsonProblem describes a JSON syntax or type error with its byte offset.
func jsonProblem(err error, body []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("found a JSON %s", te.Value)
	case len(bytes.TrimSpace(body)) == 0:
		return "the body is empty"
	}
	return err.Error()
}

// fieldDecoder decodes the fields of one object, collecting every error.
type fieldDecoder struct {
	raw  map[string]json.RawMessage
	errs []fieldError
	bad  map[string]bool // fields with a type error already reported
}

func (d *fieldDecoder) add(field, msg string) {
	d.errs = append(d.errs, fieldError{Field: field, Message: msg})
}

// present reports whether the field was given and is not null.
func (d *fieldDecoder) present(field string) bool {
	v, ok := d.raw[field]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// ok reports whether the field had no type error.
func (d *fieldDecoder) ok(field string) bool { return !d.bad[field] }

func (d *fieldDecoder) typeError(field, want string) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[field] = true
	d.add(field, "must be "+want)
}

func (d *fieldDecoder) str(field string) string {
	if !d.present(field) {
		return ""
	}
	var s string
	if err := json.Unmarshal(d.raw[field], &s); err != nil {
		d.typeError(field, "a string")
		return ""
	}
	return s
}

func (d *fieldDecoder) strings(field string) []string {
	if !d.present(field) {
		return nil
	}
	var l []string
	if err := json.Unmarshal(d.raw[field], &l); err != nil {
		d.typeError(field, "a list of strings")
		return nil
	}
	return l
}

func (d *fieldDecoder) object(field string) map[string]any {
	if !d.present(field) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(d.raw[field]))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		d.typeError(field, "an object")
		return nil
	}
	return normalizeNumbers(m).(map[string]any)
}

// gvk accepts "group/version/Kind" (or any text naming the type) and
// {"group","version","kind"}.
func (d *fieldDecoder) gvk(field string) string {
	if !d.present(field) {
		return ""
	}
	var s string
	if json.Unmarshal(d.raw[field], &s) == nil {
		return s
	}
	var o struct{ Group, Version, Kind string }
	if err := json.Unmarshal(d.raw[field], &o); err != nil {
		d.typeError(field, `a string such as "web.example.com/v1/Website" or an object {"group","version","kind"}`)
		return ""
	}
	if o.Version == "" || o.Kind == "" {
		d.typeError(field, "an object with version and kind (group may be empty for the core group)")
		return ""
	}
	if o.Group == "" {
		return o.Version + "/" + o.Kind
	}
	return o.Group + "/" + o.Version + "/" + o.Kind
}

// required checks a string field that must be present and non-blank.
func (d *fieldDecoder) required(field, v string, max int) {
	if !d.ok(field) {
		return
	}
	if strings.TrimSpace(v) == "" {
		d.add(field, "is required")
		return
	}
	d.optional(field, v, max)
}

// optional checks the length and characters of a string field.
func (d *fieldDecoder) optional(field, v string, max int) {
	if !d.ok(field) || v == "" {
		return
	}
	if len(v) > max {
		d.add(field, fmt.Sprintf("is %d bytes long; the limit is %d", len(v), max))
		return
	}
	if !utf8.ValidString(v) {
		d.add(field, "is not valid UTF-8")
		return
	}
	// Subject and message may span lines; names and keys end up in logs
	// and mail headers, so they may not.
	if field != "message" && field != "subject" && strings.IndexFunc(v, unicode.IsControl) >= 0 {
		d.add(field, "contains control characters")
	}
}

// nameProblem checks a team name reference.
func nameProblem(t string) string {
	switch {
	case t == "":
		return "must not be empty"
	case len(t) > maxNameBytes:
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(t), maxNameBytes)
	case strings.IndexFunc(t, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return fmt.Sprintf("%q contains white space or control characters", clip(t, 64))
	}
	return ""
}

// normalizeNumbers turns json.Number into int64 when integral, else
// float64, so templates print 3 rather than 3.0 and compare numbers.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalizeNumbers(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = normalizeNumbers(x)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
