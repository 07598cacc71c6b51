package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func fakeSteps(ran *[]string) []step {
	mk := func(name string, checks ...bool) step {
		return step{title: name, run: func(_ context.Context, d *demo) error {
			*ran = append(*ran, name)
			for _, ok := range checks {
				d.expect(ok, "%s check", name)
			}
			return nil
		}}
	}
	return []step{mk("one", true), mk("two", false, true), mk("three", true)}
}

// Non-interactive, the first failed check ends the walkthrough after its step.
func TestRunStepsStopsAtFirstFailedCheck(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	d := &demo{out: &out, nonInteractive: true}
	err := d.runSteps(context.Background(), fakeSteps(&ran))
	if err == nil || !strings.Contains(err.Error(), "step 2 (two): a check failed") {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(ran, ",") != "one,two" {
		t.Errorf("ran %v, want one and two only", ran)
	}
	if d.failed != 1 || d.checks != 3 {
		t.Errorf("failed %d of %d checks, want 1 of 3", d.failed, d.checks)
	}
	for _, want := range []string{"== 2/3  two", "[FAIL] two check", "[ok  ] two check"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// Interactive, every step runs and the failures are counted.
func TestRunStepsInteractiveGoesOn(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	d := &demo{out: &out}
	if err := d.runSteps(context.Background(), fakeSteps(&ran)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, ",") != "one,two,three" || d.failed != 1 {
		t.Errorf("ran %v with %d failures, want all three and 1", ran, d.failed)
	}
}

// An error of a step (the API server refused a set-up call) ends it, in
// both modes.
func TestRunStepsError(t *testing.T) {
	var out bytes.Buffer
	d := &demo{out: &out}
	steps := []step{
		{title: "broken", run: func(context.Context, *demo) error { return errors.New("boom") }},
		{title: "never", run: func(context.Context, *demo) error { t.Error("ran after an error"); return nil }},
	}
	if err := d.runSteps(context.Background(), steps); err == nil || !strings.Contains(err.Error(), "step 1 (broken): boom") {
		t.Fatalf("err = %v", err)
	}
}

// A cancelled context (Ctrl-C) stops before the next step.
func TestRunStepsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &demo{out: &bytes.Buffer{}}
	var ran []string
	if err := d.runSteps(ctx, fakeSteps(&ran)); !errors.Is(err, context.Canceled) || len(ran) != 0 {
		t.Fatalf("err %v, ran %v", err, ran)
	}
}
