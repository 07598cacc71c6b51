package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

const conversionObjects = 1000

// conversion is section 5: one 1,000-object ConversionReview through the
// gateway's /convert against the floor's identity conversion.
func (h *harness) conversion(ctx context.Context) *bench.Conversion {
	c := &bench.Conversion{Status: bench.NotMeasured}
	client, err := bench.NewClient(h.caPEM, 1)
	if err != nil {
		c.Reason = err.Error()
		return c
	}
	body := bench.ConversionReview(conversionObjects)
	gwURL := h.main.url("/convert")
	flURL := fmt.Sprintf("https://127.0.0.1:%d/convert", h.floor.port)
	if _, err := convertOnce(ctx, client, gwURL, body, true); err != nil {
		c.Reason = "the gateway's /convert: " + err.Error()
		h.logf("conversion: %s", c.Reason)
		return c
	}
	if _, err := convertOnce(ctx, client, flURL, body, false); err != nil {
		c.Reason = "the floor's /convert: " + err.Error()
		return c
	}
	var gw, id []float64
	for i := range h.o.convRuns {
		urls := []string{flURL, gwURL}
		if i%2 == 1 {
			urls = []string{gwURL, flURL}
		}
		for _, u := range urls {
			d, err := convertOnce(ctx, client, u, body, u == gwURL)
			if err != nil {
				c.Reason = err.Error()
				return c
			}
			if u == gwURL {
				gw = append(gw, bench.Round(float64(d)/float64(time.Millisecond), 3))
			} else {
				id = append(id, bench.Round(float64(d)/float64(time.Millisecond), 3))
			}
		}
	}
	c.Status, c.Objects, c.BodyKiB = "measured", conversionObjects, bench.Round(float64(len(body))/1024, 1)
	c.GatewayMs, c.IdentityMs = bench.SpreadOf(gw), bench.SpreadOf(id)
	c.Ratio = bench.Ratio(c.GatewayMs.Median, c.IdentityMs.Median)
	h.logf("conversion: %d objects: gateway %.1f ms, identity %.1f ms (medians), ratio %.2f", conversionObjects, c.GatewayMs.Median, c.IdentityMs.Median, c.Ratio)
	return c
}

// convertOnce posts one review, checks the answer (every object converted
// to v2; mapped, when the gateway answers) and returns the round trip.
func convertOnce(ctx context.Context, client *http.Client, url string, body []byte, mapped bool) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("answer %d: %.300s", resp.StatusCode, b)
	}
	var review struct {
		Response struct {
			ConvertedObjects []struct {
				APIVersion string         `json:"apiVersion"`
				Spec       map[string]any `json:"spec"`
			} `json:"convertedObjects"`
			Result struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"result"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &review); err != nil {
		return 0, fmt.Errorf("answer is not a ConversionReview: %v", err)
	}
	r := review.Response
	if r.Result.Status != "Success" || len(r.ConvertedObjects) != conversionObjects {
		return 0, fmt.Errorf("result %q (%s), %d objects", r.Result.Status, r.Result.Message, len(r.ConvertedObjects))
	}
	o := r.ConvertedObjects[conversionObjects-1]
	if o.APIVersion != bench.GroupConvert+"/v2" {
		return 0, fmt.Errorf("converted to %q", o.APIVersion)
	}
	if _, ok := o.Spec["replicas"]; mapped && !ok {
		return 0, fmt.Errorf("spec.size was not mapped to spec.replicas: %v", o.Spec)
	}
	return d, nil
}
