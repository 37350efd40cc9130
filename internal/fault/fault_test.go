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

func TestProblemsReadInTheOrderFound(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	got := Problems(errors.Join(a, errors.Join(b, c)))
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("Problems: %v", got)
	}
	if got := Problems(a); len(got) != 1 || got[0] != a {
		t.Fatalf("Problems of one error: %v", got)
	}
}
