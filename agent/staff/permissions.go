package staff

import (
	"fmt"
	"slices"
	"strings"
)

// Permission is one kind of thing a member of staff may do on the console. A role
// has a set of them (a Policy), not a place on a ladder: security staff watching
// doors need not see anyone's drug results, and keyworkers who test residents need
// not unlock doors.
type Permission string

// Permissions.
const (
	// PermRead: the site at a glance (status, devices, doors, cameras, residents,
	// curfew, alarms, the journal's events, the fire roll).
	PermRead Permission = "read"
	// PermRegister: record arrivals, departures, approved absences and changes of a
	// resident's details.
	PermRegister Permission = "register"
	// PermDoors: unlock a door, hold one unlocked or locked.
	PermDoors Permission = "doors"
	// PermLockdown: lock the site down and release it.
	PermLockdown Permission = "lockdown"
	// PermAlarms: acknowledge alarms.
	PermAlarms Permission = "alarms"
	// PermExport: export the journal and residents' proof bundles.
	PermExport Permission = "export"
	// PermAccounts: manage staff accounts.
	PermAccounts Permission = "accounts"
	// PermSubstanceTest: start a substance test, record a refusal, the sample's
	// handovers.
	PermSubstanceTest Permission = "substance-test"
	// PermSubstanceResults: see substance results (special category health data);
	// every view is audited.
	PermSubstanceResults Permission = "substance-results"
	// PermBiometrics: record a resident's consent to fingerprint enrolment (or its
	// refusal), enrol their fingers on a terminal, cancel an enrolment, and ask for
	// their templates to be deleted.
	PermBiometrics Permission = "biometrics"
	// PermBWC: issue a body-worn camera from a dock to a member of staff (every
	// role wears them).
	PermBWC Permission = "bwc"
	// PermPAT: keep the electrical items register: register items, record and
	// import their PAT results, authorise and withdraw them.
	PermPAT Permission = "pat"
)

// AllPermissions lists every permission.
func AllPermissions() []Permission {
	return []Permission{PermRead, PermRegister, PermDoors, PermLockdown, PermAlarms, PermExport, PermAccounts,
		PermSubstanceTest, PermSubstanceResults, PermBiometrics, PermBWC, PermPAT}
}

// Policy is the permissions of each role.
type Policy map[Role][]Permission

// DefaultPolicy is the permissions of each role unless the agent's configuration
// says otherwise: staff keep the register and enrol residents' fingerprints;
// keyworkers also test residents and see their results; security staff work the
// doors and the alarms, and see no results and enrol no one; managers do all of
// that but security's and lock the site down and export; admins also manage
// accounts. Every role issues body-worn cameras; all but security keep the
// electrical items register.
func DefaultPolicy() Policy {
	return Policy{
		RoleStaff:     {PermRead, PermRegister, PermBiometrics, PermBWC, PermPAT},
		RoleKeyworker: {PermRead, PermRegister, PermSubstanceTest, PermSubstanceResults, PermBiometrics, PermBWC, PermPAT},
		RoleSecurity:  {PermRead, PermDoors, PermAlarms, PermBWC},
		RoleManager: {PermRead, PermRegister, PermDoors, PermLockdown, PermAlarms, PermExport, PermSubstanceTest, PermSubstanceResults,
			PermBiometrics, PermBWC, PermPAT},
		RoleAdmin: AllPermissions(),
	}
}

// Allows says whether role r has permission perm.
func (p Policy) Allows(r Role, perm Permission) bool { return slices.Contains(p[r], perm) }

// ParsePolicy returns the default policy with the roles of over (role name: its
// permission names) replaced, refusing an unknown role or permission, and an admin
// without accounts (nobody could manage accounts any more).
func ParsePolicy(over map[string][]string) (Policy, error) {
	p := DefaultPolicy()
	for name, perms := range over {
		r, err := ParseRole(name)
		if err != nil {
			return nil, err
		}
		var ps []Permission
		for _, s := range perms {
			perm := Permission(strings.ToLower(strings.TrimSpace(s)))
			if !slices.Contains(AllPermissions(), perm) {
				return nil, fmt.Errorf("staff: role %s: unknown permission %q (want one of %v)", r, s, AllPermissions())
			}
			if !slices.Contains(ps, perm) {
				ps = append(ps, perm)
			}
		}
		p[r] = ps
	}
	if !p.Allows(RoleAdmin, PermAccounts) {
		return nil, fmt.Errorf("staff: role admin must keep %s, or nobody could manage accounts", PermAccounts)
	}
	return p, nil
}
