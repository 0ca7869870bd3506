package config_test

import (
	"strings"
	"testing"

	"github.com/apedge/apedge/internal/config"
)

// TestParseIdentifiers: CRNs, NOMS numbers, cards and dates are written one way
// (trimmed, upper case, cards as the bridge reports them), and what is not one says
// how to write it.
func TestParseIdentifiers(t *testing.T) {
	parsers := map[string]func(string) (string, error){
		"crn": config.ParseCRN, "noms": config.ParseNOMS, "card": config.ParseCard, "date": config.ParseDate,
	}
	for _, tc := range []struct {
		parse, in, want string
		says            string // the error says this; "" for none
	}{
		{"crn", "X100001", "X100001", ""},
		{"crn", " x100001\t", "X100001", ""},
		{"crn", "X10001", "", "is not a CRN: a CRN is a letter and six digits, e.g. X123456"},
		{"crn", "100001", "", "is not a CRN"},
		{"crn", "XX100001", "", "is not a CRN"},
		{"crn", "", "", `"" is not a CRN`},
		{"crn", "X1000O1", "", "is not a CRN"},
		{"noms", "A1234BC", "A1234BC", ""},
		{"noms", " a1234bc ", "A1234BC", ""},
		{"noms", "", "", ""},
		{"noms", "1234ABC", "", "is not a NOMS number: a NOMS number is a letter, four digits and two letters, e.g. A1234BC"},
		{"noms", "A12345C", "", "is not a NOMS number"},
		{"noms", "A1234B", "", "is not a NOMS number"},
		{"card", "12:10001", "12:10001", ""},
		{"card", " 012:00042 ", "12:42", ""},
		{"card", "0:0", "0:0", ""},
		{"card", "65535:65535", "65535:65535", ""}, // a 34-bit card's largest
		{"card", "12:90001", "12:90001", ""},       // as rosters in use have them
		{"card", "1234", "", `"1234" is not a card: write a card as facility:number, e.g. 12:10001`},
		{"card", "12:4294967296", "", "is not a card"},
		{"card", "65536:1", "", "is not a card"},
		{"card", "12:-1", "", "is not a card"},
		{"card", "+12:1", "", "is not a card"},
		{"card", "12:1:2", "", "is not a card"},
		{"card", "12 : 1", "", "is not a card"},
		{"card", ":1", "", "is not a card"},
		{"card", "0x0c:1", "", "is not a card"},
		{"date", "2026-12-01", "2026-12-01", ""},
		{"date", "", "", ""},
		{"date", "01/12/2026", "", `"01/12/2026" is not a date: write a date as 2026-11-22`},
		{"date", "2026-02-30", "", "is not a date"},
	} {
		got, err := parsers[tc.parse](tc.in)
		switch {
		case tc.says == "" && (err != nil || got != tc.want):
			t.Errorf("%s(%q) = %q, %v; want %q", tc.parse, tc.in, got, err, tc.want)
		case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s(%q) = %q, %v; want an error saying %q", tc.parse, tc.in, got, err, tc.says)
		}
	}
}

// TestCheckRosterLeavesRosterAsIs: CheckRoster judges identifiers as LoadAgent writes
// them (so "12:042" is the card "12:42") without changing the roster it is given.
func TestCheckRosterLeavesRosterAsIs(t *testing.T) {
	roster := []config.Resident{{CRN: "x100001", Cards: []string{"12:042"}}, {CRN: "X100002", Cards: []string{"12:42"}}}
	err := config.CheckRoster(roster)
	if err == nil || !strings.Contains(err.Error(), "card 12:42 also belongs to X100001") {
		t.Errorf("CheckRoster = %v, want the card held twice", err)
	}
	if roster[0].CRN != "x100001" || roster[0].Cards[0] != "12:042" {
		t.Errorf("CheckRoster changed the roster it was given: %+v", roster[0])
	}
	if err := config.CheckRoster([]config.Resident{{CRN: "X100001", Cards: []string{"12:1"}}}); err != nil {
		t.Errorf("CheckRoster of a valid roster: %v", err)
	}
}
