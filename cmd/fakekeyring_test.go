package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"

	dbus "github.com/godbus/dbus/v5"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/secrets"
)

// fileKeyring is the scripts' keyring: a JSON file in the script's work directory, so that what one
// klrbac process stores the next one finds. It exists only in the test binary. Its faults return
// the errors go-keyring and D-Bus return in each situation, so klrbac's classification of them is
// what the scripts exercise.
type fileKeyring struct {
	path  string
	fault string
}

// fakeFaults are the values of KLRBAC_TEST_KEYRING_FAULT.
var fakeFaults = map[string]error{
	"nobus": &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT},
	"noservice": dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown",
		Body: []any{"The name org.freedesktop.secrets was not provided by any .service files"}},
	"locked": errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'"),
	"broken": dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied", Body: []any{"access denied"}},
}

func (f *fileKeyring) check() error {
	switch f.fault {
	case "":
		return nil
	case "hang":
		// A keyring waiting on an unlock prompt nobody will answer.
		select {}
	}
	if err, ok := fakeFaults[f.fault]; ok {
		return err
	}
	return fmt.Errorf("unknown %s %q", testKeyringFaultEnv, f.fault)
}

func (f *fileKeyring) load() (map[string]string, error) {
	items := map[string]string{}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return items, nil
	}
	if err != nil {
		return nil, err
	}
	return items, json.Unmarshal(b, &items)
}

func (f *fileKeyring) save(items map[string]string) error {
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

func key(service, user string) string { return service + "/" + user }

func (f *fileKeyring) Get(service, user string) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	items, err := f.load()
	if err != nil {
		return "", err
	}
	v, ok := items[key(service, user)]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (f *fileKeyring) Set(service, user, password string) error {
	if err := f.check(); err != nil {
		return err
	}
	items, err := f.load()
	if err != nil {
		return err
	}
	items[key(service, user)] = password
	return f.save(items)
}

func (f *fileKeyring) Delete(service, user string) error {
	if err := f.check(); err != nil {
		return err
	}
	items, err := f.load()
	if err != nil {
		return err
	}
	if _, ok := items[key(service, user)]; !ok {
		return keyring.ErrNotFound
	}
	delete(items, key(service, user))
	return f.save(items)
}

// cmdKeyring inspects or prepares the fake keyring, naming credentials by their canary name so that
// no script holds a secret:
//
//	keyring holds role:marketer marketer   # the item holds canary "marketer"
//	! keyring holds role:viewer            # no such item
//	keyring count 2                        # the keyring holds 2 items
//	keyring put role:admin admin           # store canary "admin" as if klrbac had
func cmdKeyring(ts *testscript.TestScript, neg bool, args []string) {
	fk := &fileKeyring{path: ts.Getenv(testKeyringEnv)}
	items, err := fk.load()
	ts.Check(err)
	usage := "usage: keyring holds ITEM [CANARY] | count N | put ITEM CANARY"
	if len(args) == 0 {
		ts.Fatalf("%s", usage)
	}
	switch args[0] {
	case "holds":
		if len(args) < 2 || len(args) > 3 {
			ts.Fatalf("%s", usage)
		}
		v, ok := items[key(secrets.Service, args[1])]
		if len(args) == 3 && ok {
			ok = v == canaryValue(ts, args[2])
		}
		if ok == neg {
			if neg {
				ts.Fatalf("the keyring holds %s", strings.Join(args[1:], " as "))
			}
			ts.Fatalf("the keyring does not hold %s (items: %s)", strings.Join(args[1:], " as "), strings.Join(itemNames(items), ", "))
		}
	case "count":
		if neg || len(args) != 2 {
			ts.Fatalf("%s", usage)
		}
		if fmt.Sprint(len(items)) != args[1] {
			ts.Fatalf("the keyring holds %d items (%s), want %s", len(items), strings.Join(itemNames(items), ", "), args[1])
		}
	case "put":
		if neg || len(args) != 3 {
			ts.Fatalf("%s", usage)
		}
		items[key(secrets.Service, args[1])] = canaryValue(ts, args[2])
		ts.Check(fk.save(items))
	default:
		ts.Fatalf("%s", usage)
	}
}

func itemNames(items map[string]string) []string {
	var out []string
	for k := range items {
		out = append(out, strings.TrimPrefix(k, secrets.Service+"/"))
	}
	sort.Strings(out)
	return out
}
