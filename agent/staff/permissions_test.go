package staff_test

import (
	"strings"
	"testing"

	"github.com/apedge/apedge/agent/staff"
)

func TestDefaultPolicy(t *testing.T) {
	p := staff.DefaultPolicy()
	for _, c := range []struct {
		role staff.Role
		perm staff.Permission
		ok   bool
	}{
		{staff.RoleSecurity, staff.PermSubstanceResults, false}, // security watches doors, not drug results
		{staff.RoleSecurity, staff.PermDoors, true},
		{staff.RoleKeyworker, staff.PermSubstanceResults, true},
		{staff.RoleKeyworker, staff.PermSubstanceTest, true},
		{staff.RoleKeyworker, staff.PermDoors, false},
		{staff.RoleStaff, staff.PermSubstanceResults, false},
		{staff.RoleStaff, staff.PermRegister, true},
		{staff.RoleManager, staff.PermSubstanceResults, true},
		{staff.RoleManager, staff.PermLockdown, true},
		{staff.RoleManager, staff.PermAccounts, false},
		{staff.RoleAdmin, staff.PermAccounts, true},
		{staff.RoleStaff, staff.PermBiometrics, true}, // staff enrol residents at arrival
		{staff.RoleKeyworker, staff.PermBiometrics, true},
		{staff.RoleManager, staff.PermBiometrics, true},
		{staff.RoleAdmin, staff.PermBiometrics, true},
		{staff.RoleSecurity, staff.PermBiometrics, false},
		{staff.RoleSecurity, staff.PermBWC, true}, // every role wears a camera
		{staff.RoleStaff, staff.PermBWC, true},
		{staff.RoleStaff, staff.PermPAT, true},
		{staff.RoleManager, staff.PermPAT, true},
		{staff.RoleSecurity, staff.PermPAT, false},
	} {
		if got := p.Allows(c.role, c.perm); got != c.ok {
			t.Errorf("%s %s = %v, want %v", c.role, c.perm, got, c.ok)
		}
	}
	for _, r := range staff.Roles() {
		if !p.Allows(r, staff.PermRead) {
			t.Errorf("%s cannot read", r)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := staff.ParsePolicy(map[string][]string{"security": {"read", "doors", "alarms", "substance-test"}})
	if err != nil || !p.Allows(staff.RoleSecurity, staff.PermSubstanceTest) || p.Allows(staff.RoleSecurity, staff.PermSubstanceResults) ||
		!p.Allows(staff.RoleKeyworker, staff.PermSubstanceResults) {
		t.Fatalf("%v, %v", p, err)
	}
	for _, c := range []struct {
		over map[string][]string
		want string
	}{
		{map[string][]string{"janitor": {"read"}}, "janitor"},
		{map[string][]string{"staff": {"read", "fly"}}, `unknown permission "fly"`},
		{map[string][]string{"admin": {"read"}}, "admin must keep accounts"},
	} {
		if _, err := staff.ParsePolicy(c.over); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.over, err, c.want)
		}
	}
}
