package console

import (
	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/eventindex"
)

// shown returns e as the console shows it in every list (the journal, the stream,
// alarms, histories): a substance event's info cut down to which test it is, whose,
// of what sample and on which device (agent.RedactSubstanceInfo), with true. Its
// results are shown only by GET /api/v1/substance/tests/{id}, to those allowed,
// each view audited.
func shown(e eventindex.Summary) (eventindex.Summary, bool) {
	data, ok := agent.RedactSubstanceInfo(e.Type, e.Data)
	if ok {
		e.Data = data
	}
	return e, ok
}

// factOf is what the Describer needs of e, as shown: a substance event without its
// results.
func factOf(e eventindex.Summary) agent.Fact {
	e, restricted := shown(e)
	return agent.Fact{Type: e.Type, At: e.OccurredAt, CRN: e.CRN, Info: e.Data, Description: e.Description, NoResults: restricted}
}
