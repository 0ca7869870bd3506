package curfew_test

import (
	"fmt"
	"time"

	"github.com/apedge/apedge/agent/curfew"
)

func ExampleSchedule_Windows() {
	s := curfew.Schedule{
		Rules: []curfew.Rule{
			curfew.APStandard(),
			{ID: "licence-1", Source: curfew.SourceLicence, Description: "licence condition 7: curfew 19:00-07:00",
				Start: curfew.TimeOfDay{Hour: 19}, End: curfew.TimeOfDay{Hour: 7},
				From: curfew.MustParseDate("2026-10-24"), Until: curfew.MustParseDate("2026-10-24")},
		},
		Absences: []curfew.Absence{{
			ID: "leave-1", ApprovedBy: "AP manager", Reason: "authorised overnight leave",
			From: time.Date(2026, 10, 24, 20, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 24, 21, 0, 0, 0, time.UTC),
		}},
	}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	for _, w := range s.Windows(curfew.MustParseDate("2026-10-24"), curfew.MustParseDate("2026-10-24")) {
		fmt.Println(w, w.Rule.Source, w.SuspendedBy)
	}
	// Output:
	// licence-1/2026-10-24 2026-10-24 19:00 BST -> 2026-10-24 21:00 BST (2h0m0s) licence [leave-1]
	// licence-1/2026-10-24#2 2026-10-24 22:00 BST -> 2026-10-25 07:00 GMT (10h0m0s) licence [leave-1]
	// ap-standard/2026-10-24 2026-10-24 23:00 BST -> 2026-10-25 06:00 GMT (8h0m0s) ap-rule []
}

func ExampleBoundary() {
	// 01:30 does not exist on 29 March 2026: the boundary is when the clocks go forward.
	spring := curfew.Boundary(curfew.MustParseDate("2026-03-29"), curfew.TimeOfDay{Hour: 1, Minute: 30}, curfew.London())
	// 01:30 happens twice on 25 October 2026: the boundary is the first, in BST.
	autumn := curfew.Boundary(curfew.MustParseDate("2026-10-25"), curfew.TimeOfDay{Hour: 1, Minute: 30}, curfew.London())
	fmt.Println(spring.Format(time.RFC3339), spring.In(curfew.London()).Format("15:04 MST"))
	fmt.Println(autumn.Format(time.RFC3339), autumn.In(curfew.London()).Format("15:04 MST"))
	// Output:
	// 2026-03-29T01:00:00Z 02:00 BST
	// 2026-10-25T00:30:00Z 01:30 BST
}
