package pki

import (
	"fmt"
	"slices"
	"strings"
)

// Site is what the ACL of a site bus is made from: the site's code, the device classes
// its bridge runs, and the devices that have identities of their own.
type Site struct {
	Code string
	// Classes are the site-bus classes of the bridge's devices ("door", "reader").
	Classes []string
	// Devices are the device identities (RoleDevice) that speak MQTT themselves.
	Devices []Identity
}

// Rule is what one identity may publish (Write) and subscribe to or receive (Read),
// as MQTT topic filters.
type Rule struct {
	Identity    string
	Write, Read []string
}

// SiteRules returns the rules of site s's bus, one per identity:
//
//	bridge   writes dev/{class}/+/event|state|cmd/result for each of its classes, and
//	         bridge/state (its online/offline and last will);
//	         reads dev/+/+/cmd (commands), bridge/credentials, bridge/ack, agent/state.
//	agent    writes dev/+/+/cmd, bridge/credentials, bridge/ack, agent/state;
//	         reads dev/+/+/event, dev/+/+/state, dev/+/+/cmd/result, bridge/state.
//	console  writes nothing; reads dev/+/+/state, bridge/state, agent/state.
//	device:{class}:{id}  writes only its own dev/{class}/{id}/event|state|cmd/result;
//	         reads only its own dev/{class}/{id}/cmd.
//	monitor  writes nothing; reads everything under the site's prefix.
//
// Every topic is under apedge/v1/{site}/. Nobody else may do anything.
func SiteRules(s Site) []Rule {
	p := "apedge/v1/" + s.Code + "/"
	classes := slices.Clone(s.Classes)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	bridge := Rule{Identity: string(RoleBridge)}
	for _, c := range classes {
		for _, k := range []string{"event", "state", "cmd/result"} {
			bridge.Write = append(bridge.Write, p+"dev/"+c+"/+/"+k)
		}
	}
	bridge.Write = append(bridge.Write, p+"bridge/state")
	bridge.Read = []string{p + "dev/+/+/cmd", p + "bridge/credentials", p + "bridge/ack", p + "agent/state"}
	rules := []Rule{
		bridge,
		{Identity: string(RoleAgent),
			Write: []string{p + "dev/+/+/cmd", p + "bridge/credentials", p + "bridge/ack", p + "agent/state"},
			Read:  []string{p + "dev/+/+/event", p + "dev/+/+/state", p + "dev/+/+/cmd/result", p + "bridge/state"}},
		{Identity: string(RoleConsole),
			Read: []string{p + "dev/+/+/state", p + "bridge/state", p + "agent/state"}},
		{Identity: string(RoleMonitor), Read: []string{p + "#"}},
	}
	devs := slices.Clone(s.Devices)
	slices.SortFunc(devs, func(a, b Identity) int { return strings.Compare(a.String(), b.String()) })
	for _, d := range slices.Compact(devs) {
		if d.Role != RoleDevice {
			continue
		}
		own := p + "dev/" + d.Class + "/" + d.ID + "/"
		rules = append(rules, Rule{Identity: d.String(),
			Write: []string{own + "event", own + "state", own + "cmd/result"},
			Read:  []string{own + "cmd"}})
	}
	return rules
}

// CentralRules returns the rules of central's broker for the sites given:
//
//	central        writes apedge/v1/central/+/ack and apedge/v1/central/status;
//	               reads apedge/v1/central/+/events (shared subscriptions included).
//	uplink:{site}  writes only apedge/v1/central/{site}/events;
//	               reads only apedge/v1/central/{site}/ack and apedge/v1/central/status.
//	monitor        writes nothing; reads everything under apedge/v1/central/.
func CentralRules(sites []string) []Rule {
	const p = "apedge/v1/central/"
	rules := []Rule{{Identity: string(RoleCentral),
		Write: []string{p + "+/ack", p + "status"},
		Read:  []string{p + "+/events"}},
		{Identity: string(RoleMonitor), Read: []string{p + "#"}}}
	sites = slices.Clone(sites)
	slices.Sort(sites)
	for _, s := range slices.Compact(sites) {
		rules = append(rules, Rule{Identity: "uplink:" + s,
			Write: []string{p + s + "/events"},
			Read:  []string{p + s + "/ack", p + "status"}})
	}
	return rules
}

// ACL returns the text of a Mosquitto acl_file for site s's bus (SiteRules).
func ACL(s Site) string {
	return MosquittoACL("site bus of "+s.Code, SiteRules(s))
}

// CentralACL returns the text of a Mosquitto acl_file for central's broker
// (CentralRules).
func CentralACL(sites []string) string {
	return MosquittoACL("central's broker", CentralRules(sites))
}

// Merge returns rules with those of the same identity joined into one, in the order
// each identity first appears, each filter once: the rules of a broker that carries
// more than one site bus, or a site bus and central's uplink.
func Merge(rules ...Rule) []Rule {
	var out []Rule
	at := map[string]int{}
	for _, r := range rules {
		i, ok := at[r.Identity]
		if !ok {
			i = len(out)
			at[r.Identity] = i
			out = append(out, Rule{Identity: r.Identity})
		}
		for _, f := range r.Write {
			if !slices.Contains(out[i].Write, f) {
				out[i].Write = append(out[i].Write, f)
			}
		}
		for _, f := range r.Read {
			if !slices.Contains(out[i].Read, f) {
				out[i].Read = append(out[i].Read, f)
			}
		}
	}
	return out
}

// MosquittoACL renders rules (merged by identity, see Merge) as a Mosquitto acl_file.
// With no pattern lines and no topic lines before the first user, a client whose
// username (the certificate's CommonName, with use_identity_as_username) is in no
// rule may do nothing.
func MosquittoACL(what string, rules []Rule) string {
	rules = Merge(rules...)
	var b strings.Builder
	fmt.Fprintf(&b, "# Mosquitto acl_file for %s, written by apedge pki acl; do not edit.\n", what)
	b.WriteString("# Usernames are the CommonNames of client certificates from the site CA\n")
	b.WriteString("# (use_identity_as_username true). Whoever is not listed may do nothing.\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "\nuser %s\n", r.Identity)
		for _, t := range r.Write {
			fmt.Fprintf(&b, "topic write %s\n", t)
		}
		for _, t := range r.Read {
			fmt.Fprintf(&b, "topic read %s\n", t)
		}
	}
	return b.String()
}

// Allowed says whether the rule lets its identity publish to topic (write) or
// subscribe to filter topic / receive a message on it (read). A subscription filter
// is allowed only if one of the rule's filters covers every topic it can match
// ("+" in the filter only where the rule has "+" or "#"). A shared subscription
// ($share/{group}/{filter}) is checked as its filter.
func (r Rule) Allowed(topic string, write bool) bool {
	if !write && strings.HasPrefix(topic, "$share/") {
		parts := strings.SplitN(topic, "/", 3)
		if len(parts) != 3 {
			return false
		}
		topic = parts[2]
	}
	if write && strings.ContainsAny(topic, "+#") {
		return false
	}
	list := r.Read
	if write {
		list = r.Write
	}
	for _, f := range list {
		if covers(f, topic) {
			return true
		}
	}
	return false
}

// covers says whether rule filter f matches every topic that filter t matches.
func covers(f, t string) bool {
	fl, tl := strings.Split(f, "/"), strings.Split(t, "/")
	for i, fp := range fl {
		if fp == "#" {
			return true
		}
		if i >= len(tl) {
			return false
		}
		switch tp := tl[i]; {
		case tp == "#":
			return false
		case fp == "+":
		case tp == "+" || tp != fp:
			return false
		}
	}
	return len(fl) == len(tl)
}
