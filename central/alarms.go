package central

import (
	"context"
	"fmt"

	"github.com/apedge/apedge/sitekey"
	"github.com/apedge/apedge/sqlitedb"
)

// ReadAlarms returns the alarms recorded in the store at dbPath for site ("" for every
// alarm), oldest first. It opens the store read-only, so it works while a Receiver runs.
func ReadAlarms(ctx context.Context, dbPath, site string) ([]Alarm, error) {
	if site != "" && !sitekey.ValidSiteCode(site) {
		return nil, fmt.Errorf("central: alarms: site code %q is not valid", site)
	}
	db, err := sqlitedb.OpenReadOnly(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return queryAlarms(ctx, db, site)
}
