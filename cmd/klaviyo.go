package cmd

import (
	"context"
	"time"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// newPacer makes the pacer of klaviyoOptions. The command-line tests turn pacing off for scripts
// that are not about it, against a sandbox that does not throttle: probing every scope of a key
// takes seconds when paced, most of them waiting on the one-call-a-second tier.
var newPacer = func() *klaviyo.Pacer { return klaviyo.NewPacer(klaviyo.PacerOptions{}) }

// clientSleep, when set, replaces the client's waits before a retry (Retry-After, backoff). The
// command-line tests make it return at once for scripts about what a retry decides, not about how
// long it waits: the waits are still computed and reported, only not spent.
var clientSleep func(ctx context.Context, d time.Duration) error

// klaviyoOptions are the options of a client for the configured Klaviyo (klaviyo.api_url,
// klaviyo.revision), naming klrbac's version in its User-Agent and pacing calls per account and rate
// tier, so that a command checking many keys stays under Klaviyo's limits. Commands adjust them
// (such as putting a guard in the transport) before klaviyo.New.
func (a *app) klaviyoOptions() (klaviyo.Options, error) {
	cfg, err := a.config()
	if err != nil {
		return klaviyo.Options{}, err
	}
	return klaviyoOptionsFor(cfg), nil
}

// klaviyoOptionsFor are the client options cfg sets; doctor uses it on the defaults when the
// config file is broken.
func klaviyoOptionsFor(cfg *config.Config) klaviyo.Options {
	return klaviyo.Options{
		APIURL:    cfg.APIURL(),
		Revision:  cfg.Revision(),
		UserAgent: "klrbac/" + buildVersion().Version,
		Pacer:     newPacer(),
		Sleep:     clientSleep,
	}
}
