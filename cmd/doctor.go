package cmd

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/doctor"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

func newDoctorCommand(a *app) *cobra.Command {
	var out outputFlag
	var online bool
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the config, keyring, role keys and audit log, and say how to fix them",
		Long: `Check that klrbac can do its work here, one line per check, each with a fix when broken:

  config     the config file is found and valid (or the built-in policy applies)
  keyring    the OS keyring answers and is unlocked, or is off on purpose
  key ROLE   where each role's key comes from (variable or keyring), masked
  audit log  the audit log file can be written (with audit.dsn: the audit database
             answers; its schema version and chain head)

With --online klrbac also asks Klaviyo (KLRBAC_API_URL) whether it answers, and whether it
accepts each role's key (one GET /api/accounts per key, paced to that call's limit of one a
second), within 2m in all and 15s a call. Marks are ✔/✖ on a terminal, yes/no otherwise.` + exitStatus(exitOK, exitFindings, exitUsage, exitInterrupted),
		Example: "  klrbac doctor\n  klrbac doctor --online\n  KLRBAC_KEYRING=off klrbac doctor -o json",
		Args:    noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			ctx, cancel := interruptible(cmd)
			defer cancel()
			env := doctor.Env{Getenv: os.Getenv}
			env.Config, env.ConfigErr = a.config()
			if env.ConfigErr == nil {
				// A broken alert rule or OAuth app is a config problem too; the other checks
				// still run on the rest of the file.
				env.ConfigErr = checkStructured(env.Config)
			}
			cfg := env.Config
			if env.ConfigErr != nil {
				// The other checks still run, on the defaults and the environment.
				if fallback, err := config.Parse("", nil, configOptions(a.configFile, a.globals).Flags); err == nil {
					env.Fallback, cfg = fallback, fallback
				}
			}
			if cfg != nil {
				env.Store = openSecrets(cfg)
				if online {
					// cfg, not a.config(): with a broken file the checks go on with the defaults.
					env.APIURL = cfg.APIURL()
					env.Klaviyo = doctor.NewClientKlaviyo(klaviyoOptionsFor(cfg))
				}
			}
			if cfg != nil && cfg.AuditDSN() != "" {
				// Looked at, never migrated: doctor changes nothing.
				db, err := a.auditDB(ctx, pgstore.Options{NoMigrate: true})
				if err != nil {
					env.AuditDBErr = err
				} else if db != nil {
					defer db.Close()
					env.AuditDB = db
				}
			}
			checks := doctor.Run(ctx, env)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return renderDoctor(a.io, checks, f)
		}),
	}
	c.Flags().BoolVar(&online, "online", false, "also ask Klaviyo whether it answers and accepts each key")
	out.register(c, listFormats...)
	return c
}

func renderDoctor(io *ui.IO, checks []doctor.Check, f ui.Format) error {
	ok := doctor.OK(checks)
	if f != ui.Table {
		if err := io.Encode(f, doctor.Report{OK: ok, Checks: checks}); err != nil {
			return err
		}
	} else {
		io.DoctorChecks(checks)
	}
	if !ok {
		return fault.Silent(fault.Findings)
	}
	return nil
}
