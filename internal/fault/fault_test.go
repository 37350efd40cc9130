package fault

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestKindsAndHintsSurviveWrapping(t *testing.T) {
	inner := Usagef("unknown role %q", "x").Hint("did you mean y?")
	outer := &Error{Kind: Unclassified, Err: fmt.Errorf("check: %w", inner), Hints: []string{"outer hint"}}
	if KindOf(fmt.Errorf("wrapped: %w", inner)) != Usage {
		t.Error("kind lost through fmt.Errorf")
	}
	if got := Hints(outer); !slices.Equal(got, []string{"outer hint", "did you mean y?"}) {
		t.Errorf("hints = %v", got)
	}
	if KindOf(errors.New("plain")) != Unclassified {
		t.Error("a plain error must be unclassified")
	}
	if Wrap(Config, nil) != nil {
		t.Error("Wrap(nil) must be nil")
	}
	if !IsSilent(fmt.Errorf("x: %w", Silent(Findings))) || IsSilent(inner) {
		t.Error("silence must be detected through wrapping and only there")
	}
	if e := New(Usage, "x").Hint("", "h"); len(e.Hints) != 1 {
		t.Error("empty hints must be dropped")
	}
}

func TestOverridingHints(t *testing.T) {
	inner := Unavailablef("403").Hint("general: a scope is missing")
	outer := Wrap(Unavailable, fmt.Errorf("listing keys: %w", inner)).Hint("specific: the inventory needs credentials:read")
	if got := Hints(outer); len(got) != 2 {
		t.Fatalf("without Overrides both hints show: %q", got)
	}
	outer.Overrides = true
	if got := Hints(outer); len(got) != 1 || got[0] != "specific: the inventory needs credentials:read" {
		t.Fatalf("with Overrides: %q", got)
	}
	if !errors.Is(outer, inner) {
		t.Fatal("the chain is kept")
	}
}
