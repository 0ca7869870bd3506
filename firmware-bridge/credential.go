package bridge

import (
	"encoding/hex"
	"strconv"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/sitebus"
)

// credential returns card c as the site bus reports a credential.
func credential(c wiegand.Card) sitebus.Credential {
	cr := sitebus.Credential{Kind: "card", Format: c.Format, Bits: c.Bits}
	if c.Format == wiegand.FormatRaw {
		cr.Number = hex.EncodeToString(c.Raw)
		return cr
	}
	cr.Facility = c.Facility
	cr.Number = strconv.FormatUint(uint64(c.Number), 10)
	return cr
}
