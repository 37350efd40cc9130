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
// CIIdentities), prefixed with its platform; else the operating-system user ($USER, $LOGNAME, else
// the account of the process's uid). getenv is os.Getenv outside tests.
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

// osUser is the login name: $USER or $LOGNAME as the login set them, else the account of the
// process's uid. The variables come first because looking the account up costs a noticeable share of
// a short command's run time, and they attribute no less reliably than KLRBAC_ACTOR, which anyone
// may set too: userId records who a run says it is for, it does not authenticate.
func osUser(getenv func(string) string) string {
	for _, v := range []string{"USER", "LOGNAME"} {
		if s := getenv(v); s != "" {
			return s
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

// Hostname names this machine for the host field ("" when the system will not say).
func Hostname() string {
	h, _ := os.Hostname()
	return h
}
