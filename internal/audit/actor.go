package audit

import (
	"os"
	"os/user"
	"strconv"
)

// CIIdentities are the CI variables that name the person who started a job, in the order Actor
// consults them, with the prefix the identity gets in userId so that a CI login cannot pass for a
// local account of the same name.
var CIIdentities = []struct{ Env, Prefix string }{
	{"GITHUB_ACTOR", "github:"},                     // GitHub Actions
	{"GITLAB_USER_LOGIN", "gitlab:"},                // GitLab CI/CD
	{"BUILDKITE_BUILD_CREATOR_EMAIL", "buildkite:"}, // Buildkite
	{"CIRCLE_USERNAME", "circleci:"},                // CircleCI
	{"BITBUCKET_STEP_TRIGGERER_UUID", "bitbucket:"}, // Bitbucket Pipelines
	{"BUILD_REQUESTEDFOREMAIL", "azure:"},           // Azure Pipelines
	{"BUILD_USER_ID", "jenkins:"},                   // Jenkins (build-user-vars plugin)
}

// Actor names who is acting, for userId: $KLRBAC_ACTOR as given; else the first CI identity set (see
// CIIdentities), prefixed with its platform; else the operating-system user. getenv is os.Getenv
// outside tests.
func Actor(getenv func(string) string) string {
	if a := getenv("KLRBAC_ACTOR"); a != "" {
		return a
	}
	for _, ci := range CIIdentities {
		if v := getenv(ci.Env); v != "" {
			return ci.Prefix + v
		}
	}
	return osUser(getenv)
}

func osUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, v := range []string{"USER", "LOGNAME", "USERNAME"} {
		if s := getenv(v); s != "" {
			return s
		}
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

// Hostname names this machine for the host field ("" when the system will not say).
func Hostname() string {
	h, _ := os.Hostname()
	return h
}
