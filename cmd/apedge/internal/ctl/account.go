package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// tokenDoc is the agent's answer to a sign-in for a token. User is a userDoc.
type tokenDoc struct {
	Token string          `json:"token"`
	User  json.RawMessage `json:"user"`
}

// cmdLogin is apedge ctl login: sign in and keep the token.
func cmdLogin(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("login", `apedge ctl login -user NAME [-url URL] [-token-file FILE]

Signs in and keeps a token for the other commands in the token file (mode 0600). The
password is read from the terminal without echo or, when standard input is not a
terminal, as its first line. The token is labelled ctl@HOSTNAME.`)
	user := fs.String("user", "", "your user `name`")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "user", *user); err != nil {
		return err
	}
	c, err := e.newClient(false)
	if err != nil {
		return err
	}
	pw, err := cli.ReadPassword(ctx, e.Stdin, e.Stderr, fmt.Sprintf("password for %s at %s: ", *user, c.base))
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var resp tokenDoc
	in := map[string]string{"name": *user, "password": pw, "label": "ctl@" + host}
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/tokens", in, &resp); err != nil {
		return err
	}
	if resp.Token == "" {
		return errors.New("the agent sent no token")
	}
	if err := saveToken(e.g.tokenFile, resp.Token, c.base); err != nil {
		return err
	}
	var u userDoc
	json.Unmarshal(resp.User, &u)
	if e.g.json { // never the token itself
		b, _ := json.Marshal(map[string]any{"user": resp.User, "tokenFile": e.g.tokenFile})
		return printJSON(e.Stdout, b)
	}
	fmt.Fprintf(e.Stdout, "signed in to %s as %s (%s); token saved in %s\n", c.base, dash(u.Name), dash(u.Role), e.g.tokenFile)
	return nil
}

// cmdLogout is apedge ctl logout: revoke the token and remove its file.
func cmdLogout(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("logout", "apedge ctl logout\n\nRevokes the token on the agent and removes the token file.")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodDelete, "/api/v1/tokens/current", nil, nil)
	var he *httpError
	revoked := err == nil
	if err != nil && !(errors.As(err, &he) && he.Code == http.StatusUnauthorized) {
		return err // the token may still be good: keep it so that logout can be tried again
	}
	if err := os.Remove(e.g.tokenFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if e.g.json {
		b, _ := json.Marshal(map[string]any{"revoked": revoked, "tokenFile": e.g.tokenFile})
		return printJSON(e.Stdout, b)
	}
	if revoked {
		fmt.Fprintf(e.Stdout, "signed out: token revoked and %s removed\n", e.g.tokenFile)
	} else {
		fmt.Fprintf(e.Stdout, "signed out: the agent no longer knew the token; %s removed\n", e.g.tokenFile)
	}
	return nil
}

// ---- users

// userDoc is a console user account as the agent sends it.
type userDoc struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Disabled  bool   `json:"disabled"`
	CreatedAt string `json:"createdAt"`
}

// state says whether the account is active or disabled. (Sign-in failures back off
// per name and address, not per account: no account is locked out.)
func (u userDoc) state() string {
	if u.Disabled {
		return "DISABLED"
	}
	return "active"
}

// cmdUsers is apedge ctl users: the user accounts.
func cmdUsers(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "users", "apedge ctl users [-json]\n\nThe console's user accounts (admin).", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/users", nil, func(us []userDoc) error {
		tw := newTable(e.Stdout)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.state(), localTime(u.CreatedAt))
		}
		return tw.Flush()
	})
}

// cmdUser is apedge ctl user add and apedge ctl user set.
func cmdUser(ctx context.Context, e *runEnv, args []string) error {
	const synopsis = `apedge ctl user add -name NAME -role ROLE
apedge ctl user set -name NAME [-role ROLE] [-disable|-enable] [-password]

Adds or changes a console user (admin). Roles: staff, keyworker, security, manager, admin. A new
password (at least 12 characters) is read twice from the terminal without echo or,
when standard input is not a terminal, as its first line.`
	if len(args) == 0 || (args[0] != "add" && args[0] != "set") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(e.Stdout, synopsis)
			return nil
		}
		fmt.Fprintln(e.Stderr, "apedge ctl user: say add or set: apedge ctl user -h")
		return cli.ErrUsage
	}
	action := args[0]
	fs := e.flags("user "+action, synopsis)
	name := fs.String("name", "", "the user's `name`")
	role := fs.String("role", "", "staff, keyworker, security, manager or admin")
	var disable, enable, password *bool
	if action == "set" {
		disable = fs.Bool("disable", false, "disable the account")
		enable = fs.Bool("enable", false, "enable the account")
		password = fs.Bool("password", false, "set a new password")
	}
	if err := cli.Parse(fs, args[1:], 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "name", *name); err != nil {
		return err
	}
	newPassword := func() (string, error) {
		return cli.ReadPassword(ctx, e.Stdin, e.Stderr, fmt.Sprintf("new password for %s: ", *name), "again: ")
	}
	printUser := func(u userDoc) error {
		_, err := fmt.Fprintf(e.Stdout, "user %s %s: role %s, %s\n", u.Name, yesNo(action == "add", "added", "changed"), u.Role, u.state())
		return err
	}
	path := "/api/v1/users/" + url.PathEscape(*name)
	if action == "add" {
		if err := cli.Required(fs, "role", *role); err != nil {
			return err
		}
		c, err := e.newClient(true)
		if err != nil {
			return err
		}
		pw, err := newPassword()
		if err != nil {
			return err
		}
		in := map[string]string{"name": *name, "role": *role, "password": pw}
		return show(ctx, e, c, http.MethodPost, "/api/v1/users", in, printUser)
	}
	if *disable && *enable {
		fmt.Fprintln(e.Stderr, "apedge ctl user set: -disable or -enable, not both")
		return cli.ErrUsage
	}
	if *role == "" && !*disable && !*enable && !*password {
		fmt.Fprintln(e.Stderr, "apedge ctl user set: say what to change: -role, -disable, -enable or -password")
		return cli.ErrUsage
	}
	in := struct {
		Role     string `json:"role,omitempty"`
		Password string `json:"password,omitempty"`
		Disabled *bool  `json:"disabled,omitempty"`
	}{Role: *role}
	if *disable || *enable {
		in.Disabled = disable
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	if *password {
		if in.Password, err = newPassword(); err != nil {
			return err
		}
	}
	return show(ctx, e, c, http.MethodPatch, path, in, printUser)
}
