package cmd

import (
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// klaviyoClient returns a client for the configured Klaviyo (klaviyo.api_url, klaviyo.revision),
// naming klrbac's version in its User-Agent and pacing calls per account and rate tier, so that a
// command checking many keys stays under Klaviyo's limits.
func (a *app) klaviyoClient() (*klaviyo.Client, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	return klaviyo.New(klaviyo.Options{
		APIURL:    cfg.String("klaviyo.api_url"),
		Revision:  cfg.String("klaviyo.revision"),
		UserAgent: "klrbac/" + buildVersion().Version,
		Pacer:     klaviyo.NewPacer(klaviyo.PacerOptions{}),
	}), nil
}
